//! The background scheduler: at every tick it moves experiments past their commit deadline to
//! revealing and settles those past their reveal deadline, or with every committed batch
//! revealed on the embedded ledger (exactly once; the store refuses a second settlement). In chain mode the relayer's pass follows (`chain::relay`), so a
//! settlement is posted on chain in the tick that stored it.

use crate::state::AppState;
use tokio::task::JoinHandle;

/// Starts the scheduler on the runtime; abort the handle to stop it.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(state.config().tick);
        // After a slow pass, run the next one soon rather than catching up with a burst.
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            // One process among those sharing the store runs the passes (see `AppState::leads`).
            if state.leads().await {
                state.tick().await;
                state.relay_tick().await;
            }
        }
    })
}
