//! Horizontal bar charts as SVG: one bar per row at its median, with a line
//! from the 10th to the 90th percentile. No dependencies, no scripts, so
//! the file renders the same on any viewer.

use std::fmt::Write as _;

/// One bar.
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) p50: f64,
    pub(crate) p10: f64,
    pub(crate) p90: f64,
    /// Draw it in the accent colour (linerate's own rows).
    pub(crate) ours: bool,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number with three significant digits.
pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The chart, titled, with values in `unit`; `log` draws a logarithmic
/// axis, for rows that differ by orders of magnitude.
pub(crate) fn bars(title: &str, unit: &str, bars: &[Bar], log: bool) -> String {
    let (label_w, plot_w, value_w, row_h, top) = (330.0, 380.0, 110.0, 24.0, 44.0);
    let width = label_w + plot_w + value_w;
    #[allow(clippy::cast_precision_loss, reason = "a handful of rows")]
    let height = top + row_h * bars.len() as f64 + 30.0;
    let max = bars
        .iter()
        .map(|b| b.p90.max(b.p50))
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.05;
    // On a log axis, bars start one decade below the smallest median.
    let floor = bars
        .iter()
        .map(|b| b.p50)
        .filter(|v| *v > 0.0)
        .fold(max, f64::min)
        .log10()
        .floor()
        - 1.0;
    let x = |v: f64| {
        if log {
            let span = (max.log10() - floor).max(f64::MIN_POSITIVE);
            label_w + plot_w * ((v.max(f64::MIN_POSITIVE).log10() - floor) / span).clamp(0.0, 1.0)
        } else {
            label_w + plot_w * (v.max(0.0) / max)
        }
    };

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="38" fill="#555555">median, line from p10 to p90, in {}{}</text>"##,
        esc(unit),
        if log { ", logarithmic axis" } else { "" }
    );
    for (i, b) in bars.iter().enumerate() {
        #[allow(clippy::cast_precision_loss, reason = "a handful of rows")]
        let y = top + row_h * i as f64;
        let fill = if b.ours { "#1f6feb" } else { "#8c959f" };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y + 16.0,
            esc(&b.label)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{label_w}" y="{}" width="{:.1}" height="{}" fill="{fill}"/>"#,
            y + 4.0,
            (x(b.p50) - label_w).max(1.0),
            row_h - 8.0
        );
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" x2="{:.1}" y1="{}" y2="{}" stroke="#24292f" stroke-width="1.5"/>"##,
            x(b.p10),
            x(b.p90),
            y + row_h / 2.0,
            y + row_h / 2.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{} {}</text>"#,
            label_w + plot_w + 6.0,
            y + 16.0,
            num(b.p50),
            esc(unit)
        );
    }
    let axis_y = top
        + row_h * {
            #[allow(clippy::cast_precision_loss, reason = "a handful of rows")]
            let n = bars.len() as f64;
            n
        };
    let _ = writeln!(
        s,
        r##"<line x1="{label_w}" x2="{}" y1="{axis_y}" y2="{axis_y}" stroke="#24292f"/>"##,
        label_w + plot_w
    );
    let origin = if log {
        num(10f64.powf(floor))
    } else {
        "0".to_owned()
    };
    let _ = writeln!(
        s,
        r#"<text x="{label_w}" y="{}">{origin}</text>"#,
        axis_y + 16.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="end">{} {}</text>"#,
        label_w + plot_w,
        axis_y + 16.0,
        num(max),
        esc(unit)
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_labels_and_draws_one_bar_per_row() {
        let b = |l: &str| Bar {
            label: l.to_owned(),
            p50: 2.0,
            p10: 1.0,
            p90: 3.0,
            ours: false,
        };
        let svg = bars("t", "ms", &[b("a<b"), b("c")], false);
        assert!(svg.contains("a&lt;b"));
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.ends_with("</svg>\n"));
    }
}
