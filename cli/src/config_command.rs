//! `flowctl config view|get|set|reset`: Hubble's `cmd/config`, over the settings of
//! [`crate::settings`] and the same YAML file.

use std::path::Path;

use crate::goflags;
use crate::settings::{ConfigFile, KEYS, Kind, Settings, Value, find_key, yaml_entry, yaml_string};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown key: {0}")]
    UnknownKey(String),
    #[error("cannot assign value={value} for key={key}, expected type={kind}: {reason}")]
    BadValue {
        key: String,
        value: String,
        kind: &'static str,
        reason: String,
    },
    #[error("{0}")]
    Io(String),
}

/// `config view` (and `config get` without a key): every setting, merged, as YAML.
pub fn view(settings: &Settings) -> String {
    KEYS.iter()
        .map(|k| yaml_entry(k.name, &settings.value(k.name), Some(k.kind)))
        .collect()
}

/// `config get KEY`: the merged value of one setting, typed as Hubble prints it.
pub fn get(settings: &Settings, key: &str) -> Result<String, ConfigError> {
    let k = find_key(key).ok_or_else(|| ConfigError::UnknownKey(key.to_string()))?;
    let value = settings.value(k.name);
    let text = match k.kind {
        Kind::Bool => format!(
            "{}\n",
            goflags::parse_bool(&value.as_scalar()).unwrap_or(false)
        ),
        Kind::Duration => format!(
            "{}\n",
            goflags::format_duration(
                goflags::parse_duration(&value.as_scalar()).unwrap_or_default()
            )
        ),
        Kind::StringSlice => {
            let items = value.as_list();
            if items.is_empty() {
                "[]\n".to_string()
            } else {
                items
                    .iter()
                    .map(|i| format!("- {}\n", yaml_string(i)))
                    .collect()
            }
        }
        Kind::String | Kind::Uint16 => format!("{}\n", yaml_string(&value.as_scalar())),
    };
    Ok(text)
}

/// `config set KEY [VALUE]`: writes one setting into the config file (an empty value is
/// the default), keeping the file's other keys and nothing from flags or environment.
pub fn set(path: &Path, key: &str, value: &str) -> Result<(), ConfigError> {
    let k = find_key(key).ok_or_else(|| ConfigError::UnknownKey(key.to_string()))?;
    let raw = if value.is_empty() { k.default } else { value };
    let bad = |kind: &'static str, reason: String| ConfigError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        kind,
        reason,
    };
    let new = match k.kind {
        Kind::Bool => Value::Scalar(
            goflags::parse_bool(raw)
                .map_err(|r| bad("bool", r))?
                .to_string(),
        ),
        // cast.ToDurationE: a number without a unit is nanoseconds.
        Kind::Duration => {
            let with_unit = if raw.contains(|c: char| "nsuµmh".contains(c)) {
                raw.to_string()
            } else {
                format!("{raw}ns")
            };
            let d = goflags::parse_duration(&with_unit).map_err(|r| bad("duration", r))?;
            Value::Scalar(goflags::format_duration(d))
        }
        Kind::Uint16 => {
            let n = goflags::parse_uint64(raw)
                .ok()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| bad("uint16", format!("invalid port {raw:?}")))?;
            Value::Scalar(n.to_string())
        }
        Kind::String => Value::Scalar(raw.to_string()),
        // pflag's string-slice syntax: comma separated, optionally in brackets.
        Kind::StringSlice => Value::List(
            raw.trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
    };
    let mut file = ConfigFile::read(path).map_err(|e| ConfigError::Io(e.to_string()))?;
    file.values.insert(key.to_string(), new);
    write(path, &file)
}

/// `config reset [KEY]`: one setting (as `set KEY`) or all of them back to the default.
pub fn reset(path: &Path, key: Option<&str>) -> Result<(), ConfigError> {
    match key {
        Some(k) => set(path, k, ""),
        None => KEYS.iter().try_for_each(|k| set(path, k.name, "")),
    }
}

fn write(path: &Path, file: &ConfigFile) -> Result<(), ConfigError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            ConfigError::Io(format!(
                "configuration directory does not exist and cannot be created: {e}"
            ))
        })?;
    }
    std::fs::write(path, file.to_yaml())
        .map_err(|e| ConfigError::Io(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::GlobalFlags;

    #[test]
    fn set_get_view_reset_round_trip() {
        let dir = std::env::temp_dir().join(format!("flowctl-config-{}", std::process::id()));
        let path = dir.join("sub/config.yaml");
        let _ = std::fs::remove_dir_all(&dir);
        set(&path, "server", "unix:/run/x.sock").expect("set server");
        set(&path, "timeout", "90s").expect("set timeout");
        set(&path, "debug", "t").expect("set debug");
        assert!(matches!(
            set(&path, "timeout", "soon"),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            set(&path, "nope", "1"),
            Err(ConfigError::UnknownKey(_))
        ));
        let text = std::fs::read_to_string(&path).expect("file");
        assert_eq!(
            text,
            "debug: true\nserver: unix:/run/x.sock\ntimeout: 1m30s\n"
        );

        let flags = GlobalFlags {
            config: Some(path.display().to_string()),
            ..Default::default()
        };
        let settings = Settings::resolve(&flags, |_| None).expect("resolve");
        assert_eq!(get(&settings, "timeout").expect("get"), "1m30s\n");
        assert_eq!(
            get(&settings, "port-forward-port").expect("get"),
            "\"4245\"\n"
        );
        assert_eq!(get(&settings, "tls-ca-cert-files").expect("get"), "[]\n");
        let all = view(&settings);
        assert!(all.starts_with("basic-auth-password: \"\"\nbasic-auth-username: \"\"\n"));
        assert!(all.contains("\ndebug: true\n"), "{all}");
        assert!(all.contains("\nserver: unix:/run/x.sock\n"), "{all}");

        reset(&path, Some("timeout")).expect("reset one");
        assert!(
            std::fs::read_to_string(&path)
                .expect("file")
                .contains("timeout: 5s\n")
        );
        reset(&path, None).expect("reset all");
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(text.contains("server: localhost:4244\n"), "{text}");
        assert_eq!(text.lines().count(), KEYS.len());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
