//! A small command-line parser: positionals, `--name value` (or
//! `--name=value`) options and `--flag` switches, each declared up front so
//! a typo is an error instead of being ignored.

use std::collections::BTreeMap;

/// Parsed arguments of one subcommand.
#[derive(Debug, Default)]
pub struct Args {
    pub positional: Vec<String>,
    values: BTreeMap<&'static str, String>,
    flags: Vec<&'static str>,
}

impl Args {
    /// Parses `args`; `valued` options take a value, `flags` do not.
    pub fn parse(
        args: &[String],
        valued: &[&'static str],
        flags: &[&'static str],
    ) -> Result<Args, String> {
        let mut out = Args::default();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let Some(option) = arg.strip_prefix("--") else {
                out.positional.push(arg.clone());
                continue;
            };
            let (name, inline) = match option.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (option, None),
            };
            if let Some(&known) = valued.iter().find(|&&v| v == name) {
                let value = match inline {
                    Some(v) => v,
                    None => iter
                        .next()
                        .cloned()
                        .ok_or(format!("--{name} needs a value"))?,
                };
                if out.values.insert(known, value).is_some() {
                    return Err(format!("--{name} given twice"));
                }
            } else if let Some(&known) = flags.iter().find(|&&f| f == name) {
                if inline.is_some() {
                    return Err(format!("--{name} takes no value"));
                }
                out.flags.push(known);
            } else {
                return Err(format!("unknown option --{name}"));
            }
        }
        Ok(out)
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.value(name).ok_or(format!("--{name} is required"))
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    /// The single positional argument (the ROM path).
    pub fn one_path(&self) -> Result<&str, String> {
        match self.positional.as_slice() {
            [one] => Ok(one),
            [] => Err("missing the ROM file argument".into()),
            more => Err(format!("expected one ROM file, got {}", more.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_values_flags_and_positionals() {
        let a = Args::parse(
            &strings(&["rom.bin", "--expect=1af4:1000", "--json", "--out", "x"]),
            &["expect", "out"],
            &["json"],
        )
        .unwrap();
        assert_eq!(a.one_path(), Ok("rom.bin"));
        assert_eq!(a.value("expect"), Some("1af4:1000"));
        assert_eq!(a.value("out"), Some("x"));
        assert!(a.flag("json") && !a.flag("other"));
    }

    #[test]
    fn rejects_mistakes() {
        let p = |a: &[&str]| Args::parse(&strings(a), &["out"], &["json"]).unwrap_err();
        assert_eq!(p(&["--out"]), "--out needs a value");
        assert_eq!(p(&["--out", "a", "--out", "b"]), "--out given twice");
        assert_eq!(p(&["--json=1"]), "--json takes no value");
        assert_eq!(p(&["--jsn"]), "unknown option --jsn");
        let none = Args::parse(&[], &[], &[]).unwrap();
        assert!(none.one_path().is_err());
    }
}
