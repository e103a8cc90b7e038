//! Small hand-written SVG plots, so reports need no plotting dependency.

use plumbline_core::settle::Tier;
use std::fmt::Write;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 420.0;
const MARGIN: f64 = 56.0;

fn tier_color(tier: Tier) -> &'static str {
    match tier {
        Tier::Rewarded => "#1b9e77",
        Tier::Even => "#7570b3",
        Tier::Slashed => "#d95f02",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A scatter plot of score (y, −1..1) against true accuracy (x, 0..1), one dot per worker
/// coloured by tier, with a legend.
pub fn score_against_accuracy(title: &str, points: &[(f64, f64, Tier)]) -> String {
    let x = |v: f64| MARGIN + v.clamp(0.0, 1.0) * (WIDTH - 2.0 * MARGIN);
    let y = |v: f64| HEIGHT - MARGIN - (v.clamp(-1.0, 1.0) + 1.0) / 2.0 * (HEIGHT - 2.0 * MARGIN);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Axes, the zero-score line and ticks.
    let _ = writeln!(
        svg,
        r##"<path d="M{l} {t} V{b} H{r}" stroke="#333" fill="none"/>"##,
        l = MARGIN,
        t = MARGIN,
        b = HEIGHT - MARGIN,
        r = WIDTH - MARGIN
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{}" y1="{z}" x2="{}" y2="{z}" stroke="#999" stroke-dasharray="4 3"/>"##,
        MARGIN,
        WIDTH - MARGIN,
        z = y(0.0)
    );
    for i in 0..=5 {
        let v = i as f64 / 5.0;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{v:.1}</text>"#,
            x(v),
            HEIGHT - MARGIN + 16.0
        );
        let s = -1.0 + 2.0 * v;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{s:.1}</text>"#,
            MARGIN - 6.0,
            y(s) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">true accuracy (truth not used as gold)</text>"#,
        WIDTH / 2.0,
        HEIGHT - 16.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">score</text>"#,
        HEIGHT / 2.0,
        HEIGHT / 2.0
    );
    for &(accuracy, score, tier) in points {
        let _ = writeln!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}" fill-opacity="0.75"/>"#,
            x(accuracy),
            y(score),
            tier_color(tier)
        );
    }
    for (i, (tier, name)) in
        [(Tier::Rewarded, "rewarded"), (Tier::Even, "even"), (Tier::Slashed, "slashed")]
            .into_iter()
            .enumerate()
    {
        let top = MARGIN + 8.0 + i as f64 * 18.0;
        let _ = writeln!(
            svg,
            r#"<circle cx="{}" cy="{top}" r="5" fill="{}"/><text x="{}" y="{}">{name}</text>"#,
            MARGIN + 14.0,
            tier_color(tier),
            MARGIN + 24.0,
            top + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
