//! Canonical attribute values: what AWS has and what the config wants compare with `==` and
//! diff field by field. Lists and maps stay lists and maps: no value is ever joined into, or
//! split out of, a string.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Attribute name to canonical value.
pub type Attrs = BTreeMap<String, Value>;

/// One canonical attribute value. Serialized as plain JSON: a string, an array, an object,
/// the JSON document itself, or `null` for [`Value::Absent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Not set (e.g. no target group).
    Absent,
    /// A single string (a number is written as its decimal text); empty reads as absent in
    /// [`Value::as_opt`].
    Text(String),
    /// An ordered list; lists whose order AWS does not keep (subnets) are sorted when built.
    List(Vec<String>),
    /// Key to value, sorted by key (tags, environment variables).
    Map(BTreeMap<String, String>),
    /// A JSON document (a policy), compared structurally.
    Json(serde_json::Value),
}

impl Value {
    /// A [`Value::Text`].
    pub fn text(v: impl Into<String>) -> Self {
        Value::Text(v.into())
    }

    /// An optional text: `None` is [`Value::Absent`].
    pub fn opt(v: Option<impl Into<String>>) -> Self {
        v.map_or(Value::Absent, |v| Value::Text(v.into()))
    }

    /// A list whose order does not matter: sorted and without duplicates, so two reads (and a
    /// config that names an item twice) compare equal.
    pub fn set<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Self {
        let mut v: Vec<String> = items.into_iter().map(Into::into).collect();
        v.sort();
        v.dedup();
        Value::List(v)
    }

    /// A [`Value::Map`] of `pairs`; a repeated key keeps its last value.
    pub fn map<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// The text, or `""` for any other shape.
    pub fn as_text(&self) -> &str {
        match self {
            Value::Text(t) => t,
            _ => "",
        }
    }

    /// The text, or `None` when absent or empty.
    pub fn as_opt(&self) -> Option<&str> {
        Some(self.as_text()).filter(|t| !t.is_empty())
    }

    /// The list items (empty for any other shape).
    pub fn as_list(&self) -> &[String] {
        match self {
            Value::List(v) => v,
            _ => &[],
        }
    }

    /// The map (empty for any other shape).
    pub fn as_map(&self) -> BTreeMap<String, String> {
        match self {
            Value::Map(m) => m.clone(),
            _ => BTreeMap::new(),
        }
    }

    /// The JSON document serialized canonically (keys sorted, no whitespace); `""` if absent.
    pub fn as_json_text(&self) -> String {
        match self {
            Value::Json(v) => serde_json::to_string(v).unwrap_or_default(),
            _ => String::new(),
        }
    }
}

impl fmt::Display for Value {
    /// One line for people: text as is, `[a, b]`, `{k=v, ...}`, compact JSON, `(none)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Absent => f.write_str("(none)"),
            Value::Text(t) if t.is_empty() => f.write_str("(none)"),
            Value::Text(t) => f.write_str(t),
            Value::List(v) => write!(f, "[{}]", v.join(", ")),
            Value::Map(m) => {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "{{{}}}", parts.join(", "))
            }
            Value::Json(v) => f.write_str(&serde_json::to_string(v).unwrap_or_default()),
        }
    }
}
