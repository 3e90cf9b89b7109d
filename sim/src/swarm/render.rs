//! Scenarios as TOML in the hand-written files' style: scalars first, then `[tables]`, then
//! `[[arrays]]` whose entries sit on one line each (`files = [{ path = ..., size = ... }]`),
//! keys in a reading order (names first, `files` and `expect` last), empty lists left out.
//!
//! It works on the serialized value, not on the `Scenario` type, so a field added to the
//! format later (a `[liveness]` table, say) is rendered without a change here; the swarm's
//! round-trip test checks that the loader reads back exactly what was rendered.

use std::fmt::Write as _;

use toml::{Table, Value};

use crate::scenario::Scenario;

/// Keys in the order a reader wants them; keys not listed follow, alphabetically, and
/// [`LAST`] ends each table.
const FIRST: [&str; 22] = [
    "description",
    "deadline",
    "tick",
    "clock",
    "name",
    "user",
    "at",
    "kind",
    "host",
    "between",
    "profile",
    "path",
    "remote",
    "local",
    "target",
    "scheme",
    "usage",
    "priority",
    "owner",
    "network",
    "disk",
    "engine",
];
/// Sections that read best at the end, in this order.
const LAST: [&str; 10] = [
    "links",
    "accounts",
    "proxies",
    "servers",
    "jobs",
    "faults",
    "random_faults",
    "cross_traffic",
    "files",
    "expect",
];
/// The one list whose emptiness means something (`users = []`: nobody may pass), so empty
/// lists are left out everywhere but here.
const EMPTY_MEANS_SOMETHING: &str = "users";

/// The scenario as TOML text that [`Scenario::parse`] reads back into the same scenario.
pub fn to_toml(scenario: &Scenario) -> String {
    let table = Table::try_from(scenario).expect("a scenario always serializes to a table");
    let mut text = String::new();
    section(&mut text, "", &table);
    text
}

/// Where `key` goes among its siblings.
fn rank(key: &str) -> (usize, &str) {
    match (FIRST.iter().position(|k| *k == key), LAST.iter().position(|k| *k == key)) {
        (Some(first), _) => (first, ""),
        (None, Some(last)) => (FIRST.len() + 1 + last, ""),
        (None, None) => (FIRST.len(), key),
    }
}

fn ordered(table: &Table) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = table
        .iter()
        .filter(|(key, value)| {
            !matches!(value, Value::Array(items) if items.is_empty() && *key != EMPTY_MEANS_SOMETHING)
        })
        .collect();
    entries.sort_by_key(|(key, _)| rank(key));
    entries
}

fn is_table_array(value: &Value) -> bool {
    matches!(value, Value::Array(items) if items.iter().all(Value::is_table))
}

/// A table's own values, then its sub-tables as `[path.key]`, then its arrays of tables as
/// `[[path.key]]` with each element on inline lines.
fn section(text: &mut String, path: &str, table: &Table) {
    let entries = ordered(table);
    let full = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    for (key, value) in &entries {
        if !value.is_table() && !is_table_array(value) {
            let _ = writeln!(text, "{key} = {value}");
        }
    }
    for (key, value) in &entries {
        if let Value::Table(sub) = value {
            let _ = writeln!(text, "\n[{}]", full(key));
            section(text, &full(key), sub);
        }
    }
    for (key, value) in &entries {
        let Value::Array(items) = value else { continue };
        if !is_table_array(value) {
            continue;
        }
        for item in items.iter().filter_map(Value::as_table) {
            let _ = writeln!(text, "\n[[{}]]", full(key));
            for (key, value) in ordered(item) {
                let _ = writeln!(text, "{key} = {}", inline(value));
            }
        }
    }
}

/// A value on one line: tables inline, keys in reading order.
fn inline(value: &Value) -> String {
    match value {
        Value::Table(table) => {
            let parts: Vec<String> =
                ordered(table).into_iter().map(|(k, v)| format!("{k} = {}", inline(v))).collect();
            if parts.is_empty() { "{}".to_owned() } else { format!("{{ {} }}", parts.join(", ")) }
        }
        Value::Array(items) if items.iter().any(Value::is_table) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}
