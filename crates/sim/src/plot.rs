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

/// The start of a plot: the document, its title, the axes from the margins to `right`, six
/// ticks on each (`tick(v)` for v = 0, 0.2, …, 1 gives the x position, the y position and the
/// y tick's value), and the axis labels.
fn open_plot(
    title: &str,
    right: f64,
    x_label: &str,
    y_label: &str,
    tick: impl Fn(f64) -> (f64, f64, f64),
) -> String {
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
        r##"<path d="M{l} {t} V{b} H{right}" stroke="#333" fill="none"/>"##,
        l = MARGIN,
        t = MARGIN,
        b = HEIGHT - MARGIN,
    );
    for i in 0..=5 {
        let v = i as f64 / 5.0;
        let (x, y, y_value) = tick(v);
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{}" text-anchor="middle">{v:.1}</text>"#,
            HEIGHT - MARGIN + 16.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{y_value:.1}</text>"#,
            MARGIN - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (MARGIN + right) / 2.0,
        HEIGHT - 16.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>"#,
        HEIGHT / 2.0,
        HEIGHT / 2.0,
        escape(y_label)
    );
    svg
}

/// A scatter plot of score (y, −1..1) against true accuracy (x, 0..1), one dot per worker
/// coloured by tier, with a legend.
pub fn score_against_accuracy(title: &str, points: &[(f64, f64, Tier)]) -> String {
    let x = |v: f64| MARGIN + v.clamp(0.0, 1.0) * (WIDTH - 2.0 * MARGIN);
    let y = |v: f64| HEIGHT - MARGIN - (v.clamp(-1.0, 1.0) + 1.0) / 2.0 * (HEIGHT - 2.0 * MARGIN);
    let right = WIDTH - MARGIN;
    let mut svg = open_plot(title, right, "true accuracy (truth not used as gold)", "score", |v| {
        (x(v), y(-1.0 + 2.0 * v), -1.0 + 2.0 * v)
    });
    // The zero-score line.
    let _ = writeln!(
        svg,
        r##"<line x1="{}" y1="{z}" x2="{}" y2="{z}" stroke="#999" stroke-dasharray="4 3"/>"##,
        MARGIN,
        WIDTH - MARGIN,
        z = y(0.0)
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
    let mut svg = open_plot(title, plot_right, "confidence (mean of the bin)", "accuracy", |v| {
        (x(v), y(v), v)
    });
    // Where confidence equals accuracy.
    let _ = writeln!(
        svg,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-dasharray="4 3"/>"##,
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0)
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
