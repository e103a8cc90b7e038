//! The ROI chart of a simulation report: one row per strategy, a bar for the mechanism and one
//! for the naive baseline at the mean ROI, whiskers at ± one standard deviation, and the
//! break-even line. Hand-written SVG, like [`crate::plot`].

use crate::report::Report;
use std::fmt::Write;

const WIDTH: f64 = 720.0;
const LEFT: f64 = 140.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 64.0;
const ROW: f64 = 34.0;
const MECHANISM: &str = "#1b9e77";
const BASELINE: &str = "#d95f02";

/// A chart row: the strategy, then (mean, sd) under the mechanism and under the baseline.
type Row<'a> = (&'a String, (f64, f64), (f64, f64));

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The ROI chart of a report.
pub fn roi_chart(report: &Report) -> String {
    let rows: Vec<Row> = report
        .strategies
        .iter()
        .map(|(name, s)| {
            let b = &report.baseline.strategies[name];
            (name, (s.roi_mean, s.roi_sd), (b.roi_mean, b.roi_sd))
        })
        .collect();
    let extent = rows
        .iter()
        .flat_map(|(_, a, b)| [a.0 - a.1, a.0 + a.1, b.0 - b.1, b.0 + b.1])
        .fold(0.1f64, |m, v| m.max(v.abs()));
    // Round the axis out to a tenth so the ticks are readable.
    let extent = (extent * 10.0).ceil() / 10.0;
    let height = TOP + rows.len() as f64 * ROW + 56.0;
    let x = |v: f64| {
        LEFT + (v.clamp(-extent, extent) + extent) / (2.0 * extent) * (WIDTH - LEFT - RIGHT)
    };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}: ROI net of stake (mean ± sd)</text>"#,
        WIDTH / 2.0,
        escape(&report.scenario)
    );
    for (i, (label, color)) in
        [("mechanism", MECHANISM), ("naive baseline", BASELINE)].iter().enumerate()
    {
        let left = LEFT + i as f64 * 140.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{left}" y="34" width="12" height="12" fill="{color}"/><text x="{}" y="44">{label}</text>"#,
            left + 18.0
        );
    }
    let bottom = TOP + rows.len() as f64 * ROW;
    for i in 0..=4 {
        let v = -extent + 2.0 * extent * i as f64 / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{v:+.2}</text>"##,
            bottom + 16.0,
            x = x(v)
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{z:.1}" y1="{TOP}" x2="{z:.1}" y2="{bottom}" stroke="#333"/>"##,
        z = x(0.0)
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">(payout − stake) / stake</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        bottom + 40.0
    );
    for (i, (name, ours, theirs)) in rows.iter().enumerate() {
        let top = TOP + i as f64 * ROW;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            top + ROW / 2.0 + 4.0,
            escape(name)
        );
        for (j, ((mean, sd), color)) in
            [(*ours, MECHANISM), (*theirs, BASELINE)].into_iter().enumerate()
        {
            let y = top + 5.0 + j as f64 * 12.0;
            let (a, b) = (x(0.0).min(x(mean)), x(0.0).max(x(mean)));
            let _ = writeln!(
                svg,
                r#"<rect x="{a:.1}" y="{y:.1}" width="{:.1}" height="10" fill="{color}" fill-opacity="0.85"/>"#,
                (b - a).max(1.0)
            );
            let _ = writeln!(
                svg,
                r##"<line x1="{:.1}" y1="{c:.1}" x2="{:.1}" y2="{c:.1}" stroke="#333"/>"##,
                x(mean - sd),
                x(mean + sd),
                c = y + 5.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}
