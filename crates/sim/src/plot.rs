//! Small hand-written SVG plots, so reports need no plotting dependency.

use plumbline_core::settle::Tier;
use plumbline_infer::metrics::Calibration;
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

/// A reliability diagram: per series, each calibration bin as a point at (mean confidence,
/// accuracy) joined by a line, beside the diagonal where confidence equals accuracy; a legend
/// names the series with their expected calibration error.
pub fn reliability_diagram(title: &str, series: &[(&str, &Calibration)]) -> String {
    const COLORS: [&str; 8] =
        ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"];
    let plot_right = WIDTH - 170.0;
    let x = |v: f64| MARGIN + v.clamp(0.0, 1.0) * (plot_right - MARGIN);
    let y = |v: f64| HEIGHT - MARGIN - v.clamp(0.0, 1.0) * (HEIGHT - 2.0 * MARGIN);
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
    let _ = writeln!(
        svg,
        r##"<path d="M{l} {t} V{b} H{r}" stroke="#333" fill="none"/>"##,
        l = MARGIN,
        t = MARGIN,
        b = HEIGHT - MARGIN,
        r = plot_right
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-dasharray="4 3"/>"##,
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0)
    );
    for i in 0..=5 {
        let v = i as f64 / 5.0;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{v:.1}</text>"#,
            x(v),
            HEIGHT - MARGIN + 18.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{v:.1}</text>"#,
            MARGIN - 8.0,
            y(v) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">confidence (mean of the bin)</text>"#,
        (MARGIN + plot_right) / 2.0,
        HEIGHT - 16.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">accuracy</text>"#,
        HEIGHT / 2.0,
        HEIGHT / 2.0
    );
    for (i, (name, calibration)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = calibration
            .bins
            .iter()
            .map(|b| format!("{:.1},{:.1}", x(b.confidence), y(b.accuracy)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.5"/>"#,
            points.join(" ")
        );
        for b in &calibration.bins {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{}: {} tasks, confidence {:.3}, accuracy {:.3}</title></circle>"#,
                x(b.confidence),
                y(b.accuracy),
                escape(name),
                b.n,
                b.confidence,
                b.accuracy
            );
        }
        let ly = MARGIN + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{color}"/><text x="{}" y="{}">{} (ECE {:.3})</text>"#,
            plot_right + 16.0,
            ly - 9.0,
            plot_right + 32.0,
            ly,
            escape(name),
            calibration.ece
        );
    }
    svg.push_str("</svg>\n");
    svg
}
