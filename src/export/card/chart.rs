//! The dataset card's per-repository SVG bar chart. Built in code rather than from a template:
//! it is geometry (positions and widths computed from the counts), not text with slots.

use std::fmt::Write as _;

use super::{count, sorted, RepoFunnel};

const WIDTH: f64 = 800.0;
const ROW_HEIGHT: f64 = 36.0;
const BAR_HEIGHT: f64 = 12.0;
const TOP: f64 = 64.0;
const CHAR_WIDTH: f64 = 7.0;
const FULL_COLOUR: &str = "#4c72b0";
const LITE_COLOUR: &str = "#dd8452";
const MAX_LABEL_CHARS: usize = 36;

/// Escapes text and attribute values for XML.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A tick step from 1, 2, 5 × 10^k giving at most 5 intervals up to `max` (≥ 1).
fn tick_step(max: u64) -> u64 {
    let mut magnitude = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            if max.div_ceil(step) <= 5 {
                return step;
            }
        }
        magnitude *= 10;
    }
}

fn svg_open(out: &mut String, height: f64, label: &str) {
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH:.0} {height:.0}\" role=\"img\" aria-label=\"{}\" \
         font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">",
        xml(label)
    );
    let _ = writeln!(out, "<title>{}</title>", xml(label));
    let _ = writeln!(out, "<rect x=\"0\" y=\"0\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        out,
        "<text x=\"16\" y=\"26\" font-size=\"16\" font-weight=\"bold\" fill=\"#222222\">Instances per repository</text>"
    );
}

/// A self-contained SVG horizontal bar chart: one row per repository, sorted by curated count
/// (descending), with a `full` (curated) and a `lite` bar side by side, the numbers at the bar ends,
/// a legend and an axis with ticks. An empty input (or one without instances) renders a valid
/// chart saying "no instances".
pub fn repo_chart_svg(repos: &[RepoFunnel]) -> String {
    let mut out = String::new();
    let repos = sorted(repos);
    let max = repos.iter().map(|r| r.curated.max(r.lite)).max().unwrap_or(0);
    if max == 0 {
        let height = 120.0;
        svg_open(&mut out, height, "Instances per repository: no instances");
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"76\" text-anchor=\"middle\" font-size=\"14\" fill=\"#666666\">no instances</text>",
            WIDTH / 2.0
        );
        out.push_str("</svg>\n");
        return out;
    }

    let label_chars = repos.iter().map(|r| r.repo.chars().count().min(MAX_LABEL_CHARS)).max().unwrap_or(0);
    let x0 = (label_chars as f64 * CHAR_WIDTH + 24.0).clamp(110.0, 280.0);
    let x1 = WIDTH - 64.0;
    let plot = x1 - x0;
    let step = tick_step(max);
    let axis_max = max.div_ceil(step) * step;
    let axis_y = TOP + repos.len() as f64 * ROW_HEIGHT + 4.0;
    let height = axis_y + 44.0;
    let x_of = |v: u64| x0 + plot * v as f64 / axis_max as f64;

    let total_full: u64 = repos.iter().map(|r| r.curated).sum();
    let total_lite: u64 = repos.iter().map(|r| r.lite).sum();
    svg_open(
        &mut out,
        height,
        &format!("Instances per repository: {total_full} full and {total_lite} lite in {} repositories", repos.len()),
    );

    // Legend.
    let legend_x = WIDTH - 230.0;
    for (i, (colour, name)) in [(FULL_COLOUR, "full (curated)"), (LITE_COLOUR, "lite")].iter().enumerate() {
        let x = legend_x + i as f64 * 130.0;
        let _ = writeln!(
            out,
            "<rect x=\"{x:.1}\" y=\"16\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"26\" fill=\"#222222\">{name}</text>",
            x + 18.0
        );
    }

    // Grid lines and ticks.
    out.push_str("<g class=\"axis\" fill=\"#444444\" font-size=\"11\">\n");
    let mut v = 0;
    while v <= axis_max {
        let x = x_of(v);
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{axis_y:.1}\" stroke=\"#e4e4e4\"/>\
             <line x1=\"{x:.1}\" y1=\"{axis_y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444444\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP - 6.0,
            axis_y + 5.0,
            axis_y + 18.0,
            count(v)
        );
        v += step;
    }
    let _ = writeln!(
        out,
        "<line x1=\"{x0:.1}\" y1=\"{axis_y:.1}\" x2=\"{:.1}\" y2=\"{axis_y:.1}\" stroke=\"#444444\"/>",
        x_of(axis_max)
    );
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">instances</text>",
        (x0 + x_of(axis_max)) / 2.0,
        axis_y + 36.0
    );
    out.push_str("</g>\n");

    // Rows.
    for (i, r) in repos.iter().enumerate() {
        let y = TOP + i as f64 * ROW_HEIGHT;
        let name: String = if r.repo.chars().count() > MAX_LABEL_CHARS {
            let mut s: String = r.repo.chars().take(MAX_LABEL_CHARS - 1).collect();
            s.push('…');
            s
        } else {
            r.repo.clone()
        };
        let _ = writeln!(out, "<g class=\"repo\">");
        let _ = writeln!(out, "<title>{}: {} full, {} lite</title>", xml(&r.repo), r.curated, r.lite);
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#222222\">{}</text>",
            x0 - 8.0,
            y + ROW_HEIGHT / 2.0 + 4.0,
            xml(&name)
        );
        for (j, (class, colour, value)) in
            [("full", FULL_COLOUR, r.curated), ("lite", LITE_COLOUR, r.lite)].into_iter().enumerate()
        {
            let bar_y = y + 5.0 + j as f64 * (BAR_HEIGHT + 2.0);
            let w = x_of(value) - x0;
            let _ = writeln!(
                out,
                "<rect class=\"bar {class}\" x=\"{x0:.1}\" y=\"{bar_y:.1}\" width=\"{w:.1}\" height=\"{BAR_HEIGHT:.0}\" fill=\"{colour}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#222222\">{}</text>",
                x0 + w + 4.0,
                bar_y + BAR_HEIGHT - 2.0,
                count(value)
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{repos, SWE_GYM};
    use super::*;

    /// Parses `doc` with a real XML parser and returns the root element's name.
    fn check_xml(doc: &str) -> Result<String, String> {
        let parsed = roxmltree::Document::parse(doc).map_err(|e| e.to_string())?;
        Ok(parsed.root_element().tag_name().name().to_string())
    }

    /// `(class, width)` of every bar, in document order.
    fn bars(svg: &str) -> Vec<(String, f64)> {
        let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
        doc.descendants()
            .filter(|n| n.has_tag_name("rect"))
            .filter_map(|n| {
                let class = n.attribute("class")?.strip_prefix("bar ")?;
                let width = n.attribute("width")?.parse().expect("numeric width");
                Some((class.to_string(), width))
            })
            .collect()
    }

    #[test]
    fn chart_is_well_formed_svg() {
        let svg = repo_chart_svg(&repos());
        assert_eq!(check_xml(&svg), Ok("svg".to_string()), "{svg}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("width=\"800\""));
        assert!(svg.contains("full (curated)") && svg.contains(">lite<"), "legend");
        assert!(svg.contains(">737<") && svg.contains(">59<"), "numbers at bar ends");
        // Axis: 737 → steps of 200 up to 800.
        for tick in [">0<", ">200<", ">400<", ">600<", ">800<"] {
            assert!(svg.contains(tick), "tick {tick}");
        }
        // The checker itself rejects broken documents.
        assert!(check_xml("<svg><g></svg>").is_err());
        assert!(check_xml("<svg><text>a & b</text></svg>").is_err());
        assert!(check_xml("<svg><text>a</text></svg><svg/>").is_err());
    }

    #[test]
    fn chart_contains_every_repo_name_escaped() {
        let mut rs = repos();
        rs.push(RepoFunnel { repo: "evil/<script>&\"'".into(), curated: 3, lite: 1, ..Default::default() });
        let svg = repo_chart_svg(&rs);
        assert_eq!(check_xml(&svg), Ok("svg".to_string()));
        for (repo, _, _) in SWE_GYM {
            assert!(svg.contains(&format!(">{repo}<")), "{repo}");
        }
        assert!(svg.contains("evil/&lt;script&gt;&amp;&quot;&apos;"));
        assert!(!svg.contains("<script>"));
    }

    #[test]
    fn chart_rows_are_sorted_and_bars_proportional() {
        let svg = repo_chart_svg(&repos());
        // Rows in curated order.
        let positions: Vec<usize> =
            SWE_GYM.iter().map(|(repo, _, _)| svg.find(&format!(">{repo}<")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "sorted by curated, descending");

        let bars = bars(&svg);
        assert_eq!(bars.len(), 22, "a full and a lite bar per repository");
        let full: Vec<f64> = bars.iter().filter(|b| b.0 == "full").map(|b| b.1).collect();
        let lite: Vec<f64> = bars.iter().filter(|b| b.0 == "lite").map(|b| b.1).collect();
        let widest = bars.iter().map(|b| b.1).fold(0.0, f64::max);
        assert_eq!(full[0], widest, "pandas, the largest repository, has the widest bar");
        // Width / value is the same for every bar (to rounding).
        let scale = full[0] / 737.0;
        for (i, (_, curated, lite_n)) in SWE_GYM.iter().enumerate() {
            assert!((full[i] - *curated as f64 * scale).abs() <= 0.1, "{i}");
            assert!((lite[i] - *lite_n as f64 * scale).abs() <= 0.1, "{i}");
        }
    }

    #[test]
    fn chart_without_instances_says_so() {
        for repos in [vec![], vec![RepoFunnel { repo: "o/r".into(), pulls: 10, ..Default::default() }]] {
            let svg = repo_chart_svg(&repos);
            assert_eq!(check_xml(&svg), Ok("svg".to_string()), "{svg}");
            assert!(svg.contains(">no instances<"));
            assert!(bars(&svg).is_empty());
        }
    }
}
