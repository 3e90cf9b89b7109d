//! The credential decision matrix: every combination of BITS release, `UseLMCompat`,
//! `LmCompatibilityLevel`, whether the program called `SetCredentials` with NULL credentials,
//! the scheme demanded and who demands it, each *run in the simulator* (a server or proxy
//! that demands the scheme, a job of a logged-on user), and what happened: whether the
//! demanding host received the user's logon credentials, the job's final state and error.
//!
//! Each row is also compared with the spec's rule as written here, on its own (spec §0 and
//! §6.2), not with the engine's policy code: a row where the two disagree is a bug.

use std::fmt::Write as _;

use bitsim_engine::{Hresult, JobState};

use crate::book::JobBook;
use crate::scenario::Scenario;
use crate::trace::{Credentials, SimEvent, TraceEvent};
use crate::world::{RunConfig, run};

/// The rule the matrix is checked against, for the snapshot's header.
pub const RULES: &str = "\
Rules (KB 842309, spec §0 and §6.2), which every row must follow:
- Only NTLM and Negotiate have logon (implicit) credentials; SetCredentials with NULL user
  name and password and scheme Basic or Digest is refused with E_INVALIDARG.
- SetCredentials(target, NTLM or Negotiate, NULL, NULL) sends the logon credentials to that
  target whatever the registry says.
- BITS 2.0, otherwise: UseLMCompat 0 sends them always; 1 only when LmCompatibilityLevel
  is 2 or more; 2 never.
- BITS 1.5, otherwise: to a proxy always; to a server as UseLMCompat 0 and 1 say (1.5 has no
  value 2; it reads as 1).
- Credentials sent: the job completes (ACKNOWLEDGED). Not sent: ERROR with
  BG_E_HTTP_ERROR_401 0x80190191 (server) or BG_E_HTTP_ERROR_407 0x80190197 (proxy).";

/// One combination.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Row {
    pub bits: &'static str,
    pub use_lm_compat: u32,
    pub level: u32,
    pub set_credentials: bool,
    pub scheme: &'static str,
    pub target: &'static str,
}

/// What a row should give, or gave.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Outcome {
    pub logon_sent: bool,
    pub state: Option<JobState>,
    pub error: Option<Hresult>,
    /// `SetCredentials` was refused (E_INVALIDARG).
    pub refused: bool,
}

/// Every row, in a fixed order.
pub fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for bits in ["2.0", "1.5"] {
        for use_lm_compat in 0..=2 {
            for level in 0..=5 {
                for set_credentials in [false, true] {
                    for scheme in ["ntlm", "negotiate", "basic", "digest"] {
                        for target in ["server", "proxy"] {
                            rows.push(Row {
                                bits,
                                use_lm_compat,
                                level,
                                set_credentials,
                                scheme,
                                target,
                            });
                        }
                    }
                }
            }
        }
    }
    rows
}

/// The spec's answer for a row.
pub fn expected(row: &Row) -> Outcome {
    let implicit_scheme = matches!(row.scheme, "ntlm" | "negotiate");
    let logon_sent = implicit_scheme
        && (row.set_credentials
            || (row.bits == "1.5" && row.target == "proxy")
            || match row.use_lm_compat {
                0 => true,
                1 => row.level >= 2,
                _ => row.bits == "1.5" && row.level >= 2,
            });
    let error = match row.target {
        "server" => Hresult::http_status(401),
        _ => Hresult::http_status(407),
    };
    Outcome {
        logon_sent,
        state: Some(if logon_sent { JobState::Acknowledged } else { JobState::Error }),
        error: (!logon_sent).then_some(error),
        refused: row.set_credentials && !implicit_scheme,
    }
}

/// The scenario that tries a row: alice, logged on, downloads a small file from a server, or
/// through a proxy, that demands the row's scheme.
pub fn scenario(row: &Row) -> Scenario {
    let demand = match row.scheme {
        "digest" => "digest-sha256",
        other => other,
    };
    let auth = format!("auth = {{ demands = [\"{demand}\"] }}");
    let (proxy, server_auth, job_proxy) = match row.target {
        "proxy" => (
            format!("[[proxies]]\nname = \"proxy\"\n{auth}\n"),
            String::new(),
            "proxy = { usage = \"override\", proxy_list = \"proxy:8080\" }\n",
        ),
        _ => (String::new(), format!("{auth}\n"), ""),
    };
    let credentials = if row.set_credentials {
        format!("credentials = [{{ target = \"{}\", scheme = \"{}\" }}]\n", row.target, row.scheme)
    } else {
        String::new()
    };
    let text = format!(
        r#"description = "decision matrix row"
deadline = "20s"

[engine.credentials]
bits = "{bits}"
use_lm_compat = {use_lm_compat}
lm_compatibility_level = {level}

[[accounts]]
user = "alice"
password = "alice-logon-pw"

{proxy}
[[servers]]
name = "origin"
{server_auth}files = [{{ path = "/f.bin", size = "16KiB" }}]

[[jobs]]
name = "row"
owner = "alice"
retry_delay = "5s"
{job_proxy}{credentials}files = [{{ remote = "http://origin/f.bin", local = "/d/f.bin" }}]
expect = {{ state = "ACKNOWLEDGED" }}
"#,
        bits = row.bits,
        use_lm_compat = row.use_lm_compat,
        level = row.level,
    );
    Scenario::parse(&text, "decision-matrix row").expect("matrix rows are valid scenarios")
}

/// Runs a row and reads what happened from the trace: the demanding host's record of what
/// arrived, and the job's end.
pub fn observe(row: &Row) -> Outcome {
    let outcome = run(&scenario(row), &RunConfig { seed: 1, ..RunConfig::default() });
    let entries = &outcome.trace.entries;
    let logon_sent = entries.iter().any(|entry| {
        let credentials: Option<&Credentials> = match &entry.event {
            TraceEvent::Sim(SimEvent::Served { credentials, .. })
            | TraceEvent::Sim(SimEvent::Proxied { credentials, .. }) => Some(credentials),
            _ => None,
        };
        credentials.is_some_and(|credentials| {
            [&credentials.authorization, &credentials.proxy_authorization]
                .into_iter()
                .flatten()
                .any(|seen| seen.leg == Some(3) && seen.user.as_deref() == Some("CORP\\alice"))
        })
    });
    let refused = entries.iter().any(|entry| {
        matches!(&entry.event, TraceEvent::Sim(SimEvent::AppCallFailed { call, .. }) if call == "set_credentials")
    });
    let book = JobBook::from_entries(entries);
    let record = book.job("row").map(|(_, record)| record);
    Outcome {
        logon_sent,
        state: record.and_then(|record| record.state),
        error: record
            .and_then(|record| record.error)
            .filter(|_| record.and_then(|r| r.state) == Some(JobState::Error)),
        refused,
    }
}

/// The table: one line per row, observed, with `!!` where it differs from the spec's rule.
pub fn render(results: &[(Row, Outcome)]) -> String {
    let mut text = format!(
        "{RULES}\n\nbits UseLMCompat level SetCredentials(NULL) scheme target -> logon sent, state, error\n"
    );
    for (row, seen) in results {
        let agrees = *seen == expected(row);
        let set = match (row.set_credentials, seen.refused) {
            (false, _) => "no",
            (true, false) => "yes",
            (true, true) => "E_INVALIDARG",
        };
        let state = seen.state.map_or_else(|| "?".to_owned(), |state| state.to_string());
        let error = seen.error.map_or_else(String::new, |error| format!(" {error}"));
        let _ = writeln!(
            text,
            "{} {} {} {set:<12} {:<9} {:<6} -> {:<3} {state}{error}{}",
            row.bits,
            row.use_lm_compat,
            row.level,
            row.scheme,
            row.target,
            if seen.logon_sent { "yes" } else { "no" },
            if agrees { "" } else { "  !! the spec says otherwise" },
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kb_case_and_its_two_fixes_are_in_the_rule() {
        let kb = Row {
            bits: "2.0",
            use_lm_compat: 1,
            level: 0,
            set_credentials: false,
            scheme: "ntlm",
            target: "proxy",
        };
        assert_eq!(expected(&kb).error, Some(Hresult::http_status(407)));
        assert!(expected(&Row { set_credentials: true, ..kb }).logon_sent);
        assert!(expected(&Row { use_lm_compat: 0, ..kb }).logon_sent);
        assert!(expected(&Row { level: 2, ..kb }).logon_sent);
        assert!(expected(&Row { bits: "1.5", ..kb }).logon_sent);
        assert!(!expected(&Row { bits: "1.5", target: "server", ..kb }).logon_sent);
    }

    #[test]
    fn a_row_that_disagrees_is_marked() {
        let row = rows()[0];
        let mut wrong = expected(&row);
        wrong.logon_sent = !wrong.logon_sent;
        assert!(render(&[(row, wrong)]).contains("!! the spec says otherwise"));
        assert!(!render(&[(row, expected(&row))]).contains("!!"));
    }

    #[test]
    fn every_combination_is_a_row_once() {
        let rows = rows();
        assert_eq!(rows.len(), 2 * 3 * 6 * 2 * 4 * 2);
        for (index, row) in rows.iter().enumerate() {
            assert!(!rows[..index].contains(row));
        }
    }
}
