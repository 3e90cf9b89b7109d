//! The gate's results for CI systems: JUnit XML (one test case per scenario and seed, the
//! format every CI dashboard reads) and JSON (one object per run, for scripts).

use std::fmt::Write as _;

use serde_json::json;

use super::GateResult;

/// The characters XML reserves, escaped for text and attribute values alike; other control
/// characters (not allowed in XML 1.0) become spaces.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

impl GateResult {
    /// JUnit XML: one `testsuite` per scenario file, one `testcase` per seed, a `failure`
    /// naming the failed oracles with the replay line and every violation.
    pub fn junit(&self) -> String {
        let failures = self.failures().count();
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            xml,
            "<testsuites name=\"bitsim gate\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
            self.reports.len(),
            self.wall.as_secs_f64()
        );
        let mut start = 0;
        while start < self.reports.len() {
            let path = &self.reports[start].scenario_path;
            let group: Vec<_> =
                self.reports[start..].iter().take_while(|r| &r.scenario_path == path).collect();
            start += group.len();
            let failed = group.iter().filter(|report| !report.passed()).count();
            let time: f64 = group.iter().map(|report| report.wall.as_secs_f64()).sum();
            let _ = writeln!(
                xml,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" time=\"{time:.3}\">",
                escape(path),
                group.len()
            );
            for report in group {
                let _ = write!(
                    xml,
                    "    <testcase classname=\"{}\" name=\"seed {}\" time=\"{:.3}\"",
                    escape(path),
                    report.seed,
                    report.wall.as_secs_f64()
                );
                if report.passed() {
                    xml.push_str("/>\n");
                    continue;
                }
                let mut body = report.replay_command();
                for violation in &report.violations {
                    let _ = write!(body, "\n{violation}");
                }
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\" type=\"oracle\">{}</failure>\n    </testcase>",
                    escape(&report.failure_names().join(", ")),
                    escape(&body)
                );
            }
            xml.push_str("  </testsuite>\n");
        }
        xml.push_str("</testsuites>\n");
        xml
    }

    /// JSON: the totals and one object per run.
    pub fn json(&self) -> String {
        let runs: Vec<_> = self
            .reports
            .iter()
            .map(|report| {
                json!({
                    "scenario": report.scenario_path,
                    "seed": report.seed,
                    "passed": report.passed(),
                    "failed": report.failure_names(),
                    "violations": report.violations.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "replay": report.replay_command(),
                    "trace_fnv64": format!("{:016x}", report.outcome.trace.hash()),
                    "simulated_s": report.outcome.end.as_secs_f64(),
                    "wall_s": report.wall.as_secs_f64(),
                })
            })
            .collect();
        let failed = self.failures().count();
        let document = json!({
            "runs": self.reports.len(),
            "passed": self.reports.len() - failed,
            "failed": failed,
            "wall_s": self.wall.as_secs_f64(),
            "results": runs,
        });
        serde_json::to_string_pretty(&document).expect("plain JSON values") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn xml_special_characters_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
        );
        assert_eq!(escape("bell\u{7}"), "bell ");
    }
}
