import random

import pandas as pd
import plumbline

pairs = pd.read_json("hh_pairs.jsonl", lines=True)  # HH-style pairs: prompt, chosen, rejected
client = plumbline.Client()  # $PLUMBLINE_SERVER and $PLUMBLINE_KEY (or _KEY_FILE), as for the CLI
client.faucet()  # test credits, where the server runs a faucet
experiment = client.create_experiment(title="Which answer is more helpful?", kind="pairwise", strength_max=2,
    overlap=5, block_size=len(pairs), stake_per_batch=100, reward_pool=5_000, commit_within="1h", reveal_within="1h")
experiment.import_tasks(pairs, responses=["chosen", "rejected"], shuffle=True)  # A and B in a random order
experiment.fund().open()

best = dict(zip(pairs.prompt, pairs.chosen))  # five labelers, each right with its own probability
for seed, skill in enumerate([0.95, 0.9, 0.85, 0.75, 0.6]):
    labeler = client.labeler(plumbline.new_key())
    labeler.faucet()
    luck = lambda task: 1 if random.Random(f"{seed}/{task.prompt}").random() < skill else -1
    labeler.label(experiment, lambda task: task.prefer(best[task.prompt]) * luck(task), seal=True)
experiment.close()  # every batch is committed: the server opens the sealed reveals and settles
dpo = experiment.wait().dataset("trl")  # prompt, chosen, rejected, margin, confidence, gold
print(dpo)
