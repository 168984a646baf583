//! Where things are in the file: every key and value of the document with its byte span,
//! read with toml_edit (which keeps spans), so that any error can point at its line.

use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, Value};

/// One key (or array element) of the document.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Keys from the root; array elements by their index ("0", "1", ...).
    pub path: Vec<String>,
    /// The key's own span (None for array elements and implicit tables).
    pub key: Option<Range<usize>>,
    /// The value's span; for a `[table]` or `[[table]]`, its header through its last value.
    pub value: Option<Range<usize>>,
    /// The value, when it is a string.
    pub text: Option<String>,
    /// A `[table]` / `[[table]]` written with a header (point at the header, not the key).
    pub header: bool,
}

impl Entry {
    /// The span to point at: `key = value` for a key-value pair, the header for a table.
    pub fn span(&self) -> Option<Range<usize>> {
        match (&self.key, &self.value) {
            (_, Some(v)) if self.header => Some(v.clone()),
            (Some(k), Some(v)) if v.end >= k.start => Some(k.start..v.end),
            (Some(k), _) => Some(k.clone()),
            (None, v) => v.clone(),
        }
    }

    /// The name of the key (for an array element, the array's key).
    pub fn key_name(&self) -> Option<&str> {
        self.path
            .iter()
            .rev()
            .find(|p| !is_index(p))
            .map(String::as_str)
    }
}

pub fn is_index(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

/// Every entry of a document, in document order of discovery.
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub entries: Vec<Entry>,
}

impl Index {
    /// None when the text is not valid TOML (the serde pass reports that error).
    pub fn build(source: &str) -> Option<Index> {
        let doc = ImDocument::parse(source).ok()?;
        let mut index = Index::default();
        index.table(doc.as_table(), &mut Vec::new());
        Some(index)
    }

    fn push(&mut self, path: &[String], key: Option<Range<usize>>, item: &Item) {
        let header = match item {
            Item::Table(t) => !t.is_dotted() && !t.is_implicit(),
            _ => false,
        };
        let text = item.as_str().map(str::to_string);
        self.entries.push(Entry {
            path: path.to_vec(),
            key,
            value: item.span(),
            text,
            header,
        });
    }

    fn table(&mut self, table: &Table, path: &mut Vec<String>) {
        for (k, item) in table.iter() {
            path.push(k.to_string());
            let key = table.key(k).and_then(|k| k.span());
            self.push(path, key, item);
            self.item(item, path);
            path.pop();
        }
    }

    fn item(&mut self, item: &Item, path: &mut Vec<String>) {
        match item {
            Item::Table(t) => self.table(t, path),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter().enumerate() {
                    path.push(i.to_string());
                    self.entries.push(Entry {
                        path: path.clone(),
                        key: None,
                        value: t.span(),
                        text: None,
                        header: true,
                    });
                    self.table(t, path);
                    path.pop();
                }
            }
            Item::Value(v) => self.value(v, path),
            Item::None => {}
        }
    }

    fn value(&mut self, v: &Value, path: &mut Vec<String>) {
        match v {
            Value::InlineTable(t) => {
                for (k, v) in t.iter() {
                    path.push(k.to_string());
                    let key = t.key(k).and_then(|k| k.span());
                    self.entries.push(Entry {
                        path: path.clone(),
                        key,
                        value: v.span(),
                        text: v.as_str().map(str::to_string),
                        header: false,
                    });
                    self.value(v, path);
                    path.pop();
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(i.to_string());
                    self.entries.push(Entry {
                        path: path.clone(),
                        key: None,
                        value: v.span(),
                        text: v.as_str().map(str::to_string),
                        header: false,
                    });
                    self.value(v, path);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// The entry at exactly this key path.
    pub fn find(&self, path: &[&str]) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.path.len() == path.len() && e.path.iter().zip(path).all(|(a, b)| a == b))
    }

    /// The entry at this key path, or at its nearest existing parent.
    pub fn find_nearest(&self, path: &[&str]) -> Option<&Entry> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.find(&path[..n]).filter(|e| e.span().is_some()))
    }

    /// The key whose own span is `span`.
    pub fn key_at(&self, span: &Range<usize>) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key.as_ref() == Some(span))
    }

    /// The innermost entry whose value is `span`, or else contains it.
    pub fn value_at(&self, span: &Range<usize>) -> Option<&Entry> {
        if let Some(e) = self
            .entries
            .iter()
            .rev()
            .find(|e| e.value.as_ref() == Some(span))
        {
            return Some(e);
        }
        self.entries
            .iter()
            .filter(|e| {
                e.value
                    .as_ref()
                    .is_some_and(|v| v.start <= span.start && span.end <= v.end)
            })
            .min_by_key(|e| e.value.as_ref().map(|v| v.end - v.start))
    }

    /// A key named `name` inside `within` (as when an error points at a whole table).
    pub fn key_within(&self, name: &str, within: &Range<usize>) -> Option<&Entry> {
        self.entries.iter().find(|e| {
            e.path.last().is_some_and(|k| k == name)
                && e.key
                    .as_ref()
                    .is_some_and(|k| within.start <= k.start && k.end <= within.end)
        })
    }

    /// A string value equal to `text` strictly inside `within`.
    pub fn string_within(&self, text: &str, within: &Range<usize>) -> Option<&Entry> {
        self.entries.iter().find(|e| {
            e.text.as_deref() == Some(text)
                && e.value.as_ref().is_some_and(|v| {
                    within.start <= v.start
                        && v.end <= within.end
                        && (v.end - v.start) < (within.end - within.start)
                })
        })
    }
}

/// How a person names the table at `path`: "at the top level", "in [network]",
/// "in fault 2", "in [network.latency]".
pub fn describe(path: &[String]) -> String {
    match path {
        [] => "at the top level".into(),
        [faults, i, rest @ ..] if faults == "faults" && is_index(i) => {
            let n = i.parse::<usize>().map(|n| n + 1).unwrap_or(0);
            if rest.is_empty() {
                format!("in fault {n}")
            } else {
                format!("in fault {n}, `{}`", rest.join("."))
            }
        }
        _ => {
            let mut s = String::new();
            for p in path {
                if is_index(p) {
                    s.push_str(&format!("[{p}]"));
                } else {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(p);
                }
            }
            format!("in [{s}]")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "name = \"x\"\n[network]\nloss = \"1/100\"\nlatency = { dist = \"uniform\", min = \"1ms\", max = \"2ms\" }\n\n[[faults]]\nat = \"1s\"\nkind = \"crash\"\n\n[[faults]]\nat = \"2s\"\nkind = \"heal\"\n[nemesis]\nkinds = [\"crash\", \"pause\"]\n";

    #[test]
    fn finds_keys_tables_and_elements() {
        let ix = Index::build(SRC).unwrap();
        let loss = ix.find(&["network", "loss"]).unwrap();
        assert_eq!(&SRC[loss.span().unwrap()], "loss = \"1/100\"");
        let net = ix.find(&["network"]).unwrap();
        assert!(SRC[net.span().unwrap()].starts_with("[network]\nloss"));
        let f1 = ix.find(&["faults", "1"]).unwrap();
        assert!(SRC[f1.span().unwrap()].starts_with("[[faults]]\nat = \"2s\""));
        let at = ix.find(&["faults", "1", "at"]).unwrap();
        assert_eq!(&SRC[at.span().unwrap()], "at = \"2s\"");
        let min = ix.find(&["network", "latency", "min"]).unwrap();
        assert_eq!(&SRC[min.span().unwrap()], "min = \"1ms\"");
        let k = ix.find(&["nemesis", "kinds", "1"]).unwrap();
        assert_eq!(&SRC[k.span().unwrap()], "\"pause\"");
        assert_eq!(k.key_name(), Some("kinds"));
        let near = ix.find_nearest(&["faults", "1", "shape"]).unwrap();
        assert_eq!(near.path, ["faults", "1"]);
        assert!(ix.find_nearest(&["nothing"]).is_none());
    }

    #[test]
    fn describes_tables() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(describe(&p(&[])), "at the top level");
        assert_eq!(describe(&p(&["network"])), "in [network]");
        assert_eq!(
            describe(&p(&["network", "latency"])),
            "in [network.latency]"
        );
        assert_eq!(describe(&p(&["faults", "2"])), "in fault 3");
    }
}
