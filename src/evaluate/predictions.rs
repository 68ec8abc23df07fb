//! Reading a predictions file in SWE-bench's format: JSON lines, or one JSON list, of
//! `{instance_id, model_name_or_path, model_patch}` (`model_patch` may be null: an empty patch).
//! A bad entry is a problem named by file and line (or list item), and the others are still read.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

/// One prediction to score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    pub instance_id: String,
    pub model: String,
    /// The patch as given (`""` for null).
    pub patch: String,
    /// Where it came from: `file:line` or `file[item]`.
    pub at: String,
}

/// An entry that cannot be scored, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `file:line` or `file[item]`.
    pub at: String,
    pub instance_id: Option<String>,
    /// The model, when the entry names one.
    pub model: Option<String>,
    pub message: String,
}

/// Reads `path`. Fails only when the file cannot be read at all.
pub fn read(path: &Path) -> std::io::Result<(Vec<Prediction>, Vec<Problem>)> {
    let bytes = std::fs::read(path)?;
    Ok(parse(&path.display().to_string(), &bytes))
}

/// Reads predictions from `bytes`, named `name` in problems.
pub fn parse(name: &str, bytes: &[u8]) -> (Vec<Prediction>, Vec<Problem>) {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let mut entries: Vec<(String, Result<Value, String>)> = Vec::new();
    if first == Some(b'[') {
        match std::str::from_utf8(bytes) {
            Err(e) => {
                let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
                entries.push((format!("{name}:{line}"), Err("not UTF-8 text".into())));
            }
            Ok(text) => match serde_json::from_str::<Vec<Value>>(text) {
                Ok(items) => {
                    entries.extend(items.into_iter().enumerate().map(|(i, v)| (format!("{name}[{i}]"), Ok(v))))
                }
                Err(e) => entries.push((format!("{name}:{}", e.line()), Err(format!("not a JSON list: {e}")))),
            },
        }
    } else {
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            let at = format!("{name}:{}", i + 1);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let entry = match std::str::from_utf8(line) {
                Err(_) => Err("not UTF-8 text".to_string()),
                Ok(text) => serde_json::from_str::<Value>(text).map_err(|e| format!("not JSON: {e}")),
            };
            entries.push((at, entry));
        }
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (at, entry) in entries {
        let problem = |instance_id: Option<String>, message: String| Problem {
            at: at.clone(),
            instance_id,
            model: None,
            message,
        };
        let value = match entry {
            Ok(v) => v,
            Err(message) => {
                problems.push(problem(None, message));
                continue;
            }
        };
        let field = |key: &str| value.get(key);
        let instance_id = match field("instance_id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => {
                problems.push(problem(None, "no `instance_id` (a non-empty string)".into()));
                continue;
            }
        };
        let model = match field("model_name_or_path") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => {
                problems.push(problem(Some(instance_id), "no `model_name_or_path` (a non-empty string)".into()));
                continue;
            }
        };
        let patch = match field("model_patch") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) => String::new(),
            Some(_) => {
                problems.push(problem(Some(instance_id), "`model_patch` is neither a string nor null".into()));
                continue;
            }
            None => {
                problems.push(problem(Some(instance_id), "no `model_patch` (a string, or null for no patch)".into()));
                continue;
            }
        };
        if !seen.insert((model.clone(), instance_id.clone())) {
            problems.push(Problem {
                model: Some(model.clone()),
                ..problem(
                    Some(instance_id),
                    format!(
                        "a second prediction for this instance by {model} in the same file: only the first is scored"
                    ),
                )
            });
            continue;
        }
        out.push(Prediction { instance_id, model, patch, at });
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_with_every_kind_of_bad_line_keep_the_good_ones() {
        let mut text = Vec::new();
        text.extend_from_slice(br#"{"instance_id": "a__b-1", "model_name_or_path": "m", "model_patch": "diff"}"#);
        text.extend_from_slice(b"\n\n");
        text.extend_from_slice(br#"{"instance_id": "a__b-2", "model_name_or_path": "m", "model_patch": null}"#);
        text.extend_from_slice(b"\n{not json\n");
        text.extend_from_slice(br#"{"model_name_or_path": "m", "model_patch": ""}"#);
        text.extend_from_slice(b"\n");
        text.extend_from_slice(br#"{"instance_id": "a__b-3", "model_patch": ""}"#);
        text.extend_from_slice(b"\n");
        text.extend_from_slice(br#"{"instance_id": "a__b-1", "model_name_or_path": "m", "model_patch": "again"}"#);
        text.extend_from_slice(
            b"\n{\"instance_id\": \"a__b-4\", \"model_name_or_path\": \"m\", \"model_patch\": \"\xff\"}\n",
        );
        text.extend_from_slice(br#"{"instance_id": "a__b-5", "model_name_or_path": "m", "model_patch": 7}"#);
        let (preds, problems) = parse("p.jsonl", &text);
        let ids: Vec<(&str, &str, &str)> =
            preds.iter().map(|p| (p.instance_id.as_str(), p.patch.as_str(), p.at.as_str())).collect();
        assert_eq!(ids, [("a__b-1", "diff", "p.jsonl:1"), ("a__b-2", "", "p.jsonl:3")]);
        let named: Vec<(&str, &str)> = problems.iter().map(|p| (p.at.as_str(), p.message.as_str())).collect();
        assert_eq!(named.len(), 6, "{named:#?}");
        assert!(named[0].0 == "p.jsonl:4" && named[0].1.starts_with("not JSON"), "{named:?}");
        assert_eq!(named[1], ("p.jsonl:5", "no `instance_id` (a non-empty string)"));
        assert_eq!(named[2], ("p.jsonl:6", "no `model_name_or_path` (a non-empty string)"));
        assert!(named[3].0 == "p.jsonl:7" && named[3].1.contains("second prediction"), "{named:?}");
        assert_eq!(named[4], ("p.jsonl:8", "not UTF-8 text"));
        assert_eq!(named[5], ("p.jsonl:9", "`model_patch` is neither a string nor null"));
    }

    #[test]
    fn a_json_list_is_read_item_by_item() {
        let text = br#"[{"instance_id": "a__b-1", "model_name_or_path": "m", "model_patch": "x"},
                        {"instance_id": "a__b-1", "model_name_or_path": "other", "model_patch": "y"},
                        {"instance_id": "", "model_name_or_path": "m", "model_patch": "z"}]"#;
        let (preds, problems) = parse("p.json", text);
        assert_eq!(preds.len(), 2, "one instance, two models: both are scored");
        assert_eq!(preds[1].at, "p.json[1]");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].at, "p.json[2]");
        let (_, broken) = parse("p.json", b"[{\"instance_id\": 1,\n");
        assert!(broken[0].message.starts_with("not a JSON list"), "{broken:?}");
    }
}
