//! One description, two renderings: an indented text listing for people
//! and JSON for scripts, built from the same rows so they cannot disagree.

use serde_json::{Map, Value};
use std::fmt::{Display, Write as _};

/// An ordered set of named rows.
#[derive(Debug, Default)]
pub struct Obj {
    rows: Vec<Row>,
}

#[derive(Debug)]
enum Row {
    Field {
        key: &'static str,
        text: String,
        json: Value,
    },
    Child {
        key: &'static str,
        title: String,
        obj: Obj,
    },
    List {
        key: &'static str,
        items: Vec<(String, Obj)>,
    },
}

impl Obj {
    pub fn new() -> Obj {
        Obj::default()
    }

    /// A value shown as `text` and stored in JSON as `json`.
    pub fn field(
        &mut self,
        key: &'static str,
        text: impl Display,
        json: impl Into<Value>,
    ) -> &mut Self {
        self.rows.push(Row::Field {
            key,
            text: text.to_string(),
            json: json.into(),
        });
        self
    }

    /// A value whose text and JSON forms are the same number.
    pub fn num(&mut self, key: &'static str, value: impl Into<u64>) -> &mut Self {
        let value = value.into();
        self.field(key, value, value)
    }

    /// A pointer or offset: hex in the text, a number in JSON.
    pub fn hex(&mut self, key: &'static str, value: impl Into<u64>, width: usize) -> &mut Self {
        let value = value.into();
        self.field(key, format!("0x{value:0width$x}"), value)
    }

    pub fn child(&mut self, key: &'static str, title: impl Display, obj: Obj) -> &mut Self {
        self.rows.push(Row::Child {
            key,
            title: title.to_string(),
            obj,
        });
        self
    }

    pub fn list(&mut self, key: &'static str, items: Vec<(String, Obj)>) -> &mut Self {
        self.rows.push(Row::List { key, items });
        self
    }

    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for row in &self.rows {
            let (key, value) = match row {
                Row::Field { key, json, .. } => (key, json.clone()),
                Row::Child { key, obj, .. } => (key, obj.to_json()),
                Row::List { key, items } => (
                    key,
                    Value::Array(items.iter().map(|(_, o)| o.to_json()).collect()),
                ),
            };
            map.insert(key.to_string(), value);
        }
        Value::Object(map)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out, 0);
        out
    }

    fn write_text(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent);
        for row in &self.rows {
            match row {
                Row::Field { key, text, .. } => {
                    // Multi-line values start on the next line.
                    let sep = if text.starts_with('\n') { ":" } else { ": " };
                    let _ = writeln!(out, "{pad}{}{sep}{text}", key.replace('_', " "));
                }
                Row::Child { title, obj, .. } => {
                    let _ = writeln!(out, "{pad}{title}");
                    obj.write_text(out, indent + 2);
                }
                Row::List { items, .. } => {
                    for (title, obj) in items {
                        let _ = writeln!(out, "{pad}{title}");
                        obj.write_text(out, indent + 2);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_and_json_from_the_same_rows() {
        let mut inner = Obj::new();
        inner.hex("pointer", 0x1cu16, 4);
        let mut top = Obj::new();
        top.num("size_blocks", 3u8)
            .child("pcir", "PCIR at 0x1c", inner)
            .list("items", vec![("item 0".into(), Obj::new())]);
        assert_eq!(
            top.to_text(),
            "size blocks: 3\nPCIR at 0x1c\n  pointer: 0x001c\nitem 0\n"
        );
        assert_eq!(
            top.to_json(),
            serde_json::json!({"size_blocks": 3, "pcir": {"pointer": 28}, "items": [{}]})
        );
    }
}
