//! Hubble's global flags (`--config`, `-D`) and server flags (`--server`, `--timeout`, …),
//! resolved as Hubble's viper does: the command line, else `HUBBLE_<FLAG>` (upper case,
//! `-` → `_`), else the config file (YAML, keys named as the flags), else the default.
//!
//! Hubble binds only these flags to viper, plus `--allowlist`/`--denylist` for `observe`
//! (`cmd/root.go`, `cmd/observe/flows.go`); every other flag is read from the command line
//! only, and so it is here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::goflags;

/// The type of a setting, as pflag names it (`config get`/`set` convert by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Duration,
    String,
    StringSlice,
    Uint16,
}

/// One setting: its flag name (= config key), type and default.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
}

/// flowd listens on 4244 (as a Hubble node does); Hubble's CLI defaults to Relay's 4245.
pub const DEFAULT_SERVER: &str = "localhost:4244";

/// Every viper-bound setting, sorted by name (the order `config view` prints).
pub const KEYS: &[Key] = &[
    key("basic-auth-password", Kind::String, ""),
    key("basic-auth-username", Kind::String, ""),
    key("config", Kind::String, ""),
    key("debug", Kind::Bool, "false"),
    key("kube-context", Kind::String, ""),
    key("kube-namespace", Kind::String, "kube-system"),
    key("kubeconfig", Kind::String, ""),
    key("port-forward", Kind::Bool, "false"),
    key("port-forward-port", Kind::Uint16, "4245"),
    key("request-timeout", Kind::Duration, "12s"),
    key("server", Kind::String, DEFAULT_SERVER),
    key("timeout", Kind::Duration, "5s"),
    key("tls", Kind::Bool, "false"),
    key("tls-allow-insecure", Kind::Bool, "false"),
    key("tls-ca-cert-files", Kind::StringSlice, ""),
    key("tls-client-cert-file", Kind::String, ""),
    key("tls-client-key-file", Kind::String, ""),
    key("tls-server-name", Kind::String, ""),
];

const fn key(name: &'static str, kind: Kind, default: &'static str) -> Key {
    Key {
        name,
        kind,
        default,
    }
}

/// The setting named `name`.
pub fn find_key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Global and server flags of every command (`global = true`, so they go before or after
/// the subcommand, as with Hubble's persistent flags). Values stay strings until
/// [`Settings::resolve`] merges them with the environment and the config file.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Global flags")]
pub struct GlobalFlags {
    /// Optional config file [default: $XDG_CONFIG_HOME/hubble/config.yaml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<String>,
    /// Enable debug messages
    #[arg(short = 'D', long, global = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub debug: Option<String>,
    /// Address of a Hubble server: host:port, unix:///path or unix:/path [default:
    /// localhost:4244]. Ignored when --input-file is provided
    #[arg(long, global = true, value_name = "ADDRESS")]
    pub server: Option<String>,
    /// Hubble server dialing timeout: for the connection and the server's first answer
    /// [default: 5s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Unary request timeout. Only applies to non-streaming RPCs (ServerStatus, ListNodes,
    /// ListNamespaces) [default: 12s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// Use TLS to connect to the server (also selected by a tls:// address)
    #[arg(long, global = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub tls: Option<String>,
    /// Allow insecure TLS connections: the server's certificate is not verified
    #[arg(long, global = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub tls_allow_insecure: Option<String>,
    /// Paths to custom CA certificate files (PEM) trusted instead of the system's
    #[arg(long, global = true, value_name = "FILES", value_delimiter = ',')]
    pub tls_ca_cert_files: Option<Vec<String>>,
    /// Path to the public key file for the client certificate to connect to the server (PEM)
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_client_cert_file: Option<String>,
    /// Path to the private key file for the client certificate to connect to the server (PEM)
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_client_key_file: Option<String>,
    /// Specify a server name to verify the hostname on the returned certificate
    #[arg(long, global = true, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Basic auth username (not supported by flowctl)
    #[arg(long, global = true, value_name = "USER")]
    pub basic_auth_username: Option<String>,
    /// Basic auth password (not supported by flowctl)
    #[arg(long, global = true, value_name = "PASSWORD")]
    pub basic_auth_password: Option<String>,
    /// Port-forward to hubble-relay in Kubernetes (not supported by flowctl)
    #[arg(long, global = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub port_forward: Option<String>,
    /// Local port for --port-forward (not supported by flowctl)
    #[arg(long, global = true, value_name = "PORT")]
    pub port_forward_port: Option<String>,
    /// Kubernetes context for --port-forward (not supported by flowctl)
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub kube_context: Option<String>,
    /// Namespace of Cilium for --port-forward (not supported by flowctl)
    #[arg(long, global = true, value_name = "NAMESPACE")]
    pub kube_namespace: Option<String>,
    /// Kubeconfig for --port-forward (not supported by flowctl)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<String>,
}

impl GlobalFlags {
    /// The command-line value of setting `key`, if given.
    fn get(&self, key: &str) -> Option<Value> {
        let s = |v: &Option<String>| v.clone().map(Value::Scalar);
        match key {
            "config" => s(&self.config),
            "debug" => s(&self.debug),
            "server" => s(&self.server),
            "timeout" => s(&self.timeout),
            "request-timeout" => s(&self.request_timeout),
            "tls" => s(&self.tls),
            "tls-allow-insecure" => s(&self.tls_allow_insecure),
            "tls-ca-cert-files" => self.tls_ca_cert_files.clone().map(Value::List),
            "tls-client-cert-file" => s(&self.tls_client_cert_file),
            "tls-client-key-file" => s(&self.tls_client_key_file),
            "tls-server-name" => s(&self.tls_server_name),
            "basic-auth-username" => s(&self.basic_auth_username),
            "basic-auth-password" => s(&self.basic_auth_password),
            "port-forward" => s(&self.port_forward),
            "port-forward-port" => s(&self.port_forward_port),
            "kube-context" => s(&self.kube_context),
            "kube-namespace" => s(&self.kube_namespace),
            "kubeconfig" => s(&self.kubeconfig),
            _ => None,
        }
    }
}

/// A setting's value: YAML scalars and flag values are strings; lists stay lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Scalar(String),
    List(Vec<String>),
}

impl Value {
    /// The value as one string (a list joined with commas, as pflag prints it).
    pub fn as_scalar(&self) -> String {
        match self {
            Value::Scalar(s) => s.clone(),
            Value::List(l) => l.join(","),
        }
    }

    /// The value as a list; a scalar splits on whitespace, as viper's `GetStringSlice`
    /// does with a string from the environment or the file.
    pub fn as_list(&self) -> Vec<String> {
        match self {
            Value::Scalar(s) => s.split_whitespace().map(str::to_string).collect(),
            Value::List(l) => l.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value that does not parse as the setting's type.
    #[error("invalid argument {value:?} for \"--{key}\" flag ({origin}): {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        origin: &'static str,
        reason: String,
    },
    /// A Hubble feature flowctl does not implement.
    #[error("--{0} is not supported by flowctl (no basic auth or Kubernetes port-forward)")]
    Unsupported(&'static str),
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
}

/// The config file: top-level YAML keys and their values.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    pub values: BTreeMap<String, Value>,
}

impl ConfigFile {
    /// Reads `path`; a missing file is empty (as Hubble, which ignores it).
    pub fn read(path: &Path) -> Result<ConfigFile, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile::default());
            }
            Err(e) => return Err(file_error(path, e.to_string())),
        };
        Self::parse(&text).map_err(|reason| file_error(path, reason))
    }

    /// Parses YAML text: a mapping of scalars and lists of scalars (or nothing at all).
    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let mut values = BTreeMap::new();
        let map = match doc {
            serde_yaml_ng::Value::Null => return Ok(ConfigFile::default()),
            serde_yaml_ng::Value::Mapping(m) => m,
            _ => return Err("not a mapping of settings".to_string()),
        };
        for (k, v) in map {
            let key = scalar(&k).ok_or("a key is not a string")?;
            let value = match v {
                serde_yaml_ng::Value::Sequence(items) => Value::List(
                    items
                        .iter()
                        .map(|i| scalar(i).ok_or(format!("{key}: list items must be scalars")))
                        .collect::<Result<_, _>>()?,
                ),
                other => Value::Scalar(
                    scalar(&other).ok_or(format!("{key}: expected a scalar or a list"))?,
                ),
            };
            values.insert(key, value);
        }
        Ok(ConfigFile { values })
    }

    /// The file as YAML, keys sorted, as Hubble's `config set` writes it.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.values {
            let kind = find_key(k).map(|k| k.kind);
            out.push_str(&crate::settings::yaml_entry(k, v, kind));
        }
        out
    }
}

fn file_error(path: &Path, reason: String) -> SettingsError {
    SettingsError::File {
        path: path.display().to_string(),
        reason,
    }
}

fn scalar(v: &serde_yaml_ng::Value) -> Option<String> {
    match v {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::Null => Some(String::new()),
        _ => None,
    }
}

/// One `key: value` YAML line (or block for a non-empty list), typed by `kind` so that a
/// bool is `true` and a port number a quoted string, as yaml.v3 writes viper's values.
pub(crate) fn yaml_entry(key: &str, value: &Value, kind: Option<Kind>) -> String {
    let is_list = matches!(value, Value::List(_)) || kind == Some(Kind::StringSlice);
    if is_list {
        let items = match value {
            Value::List(items) => items.clone(),
            Value::Scalar(s) => s
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        };
        if items.is_empty() {
            return format!("{key}: []\n");
        }
        let mut out = format!("{key}:\n");
        for item in items {
            out.push_str(&format!("    - {}\n", yaml_string(&item)));
        }
        return out;
    }
    let scalar = value.as_scalar();
    if kind == Some(Kind::Bool)
        && let Ok(b) = goflags::parse_bool(&scalar)
    {
        return format!("{key}: {b}\n");
    }
    format!("{key}: {}\n", yaml_string(&scalar))
}

/// A YAML scalar for a string: plain when that reads back as the same string, else
/// double-quoted (empty, numbers, booleans, null, leading/trailing blanks, indicators).
pub(crate) fn yaml_string(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && !s.starts_with(|c: char| c.is_whitespace() || "-?:,[]{}#&*!|>'\"%@`".contains(c))
        && !s.ends_with(char::is_whitespace)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains('\n')
        && matches!(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(s), Ok(serde_yaml_ng::Value::String(ref back)) if back == s);
    if plain_ok {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
    }
}

/// The default config file: `os.UserConfigDir()/hubble/config.yaml`, i.e.
/// `$XDG_CONFIG_HOME/hubble/config.yaml`, else `$HOME/.config/hubble/config.yaml`.
pub fn default_config_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from(".config"));
    base.join("hubble").join("config.yaml")
}

/// `HUBBLE_<KEY>`: upper case, `-` → `_`.
pub fn env_name(key: &str) -> String {
    format!("HUBBLE_{}", key.to_ascii_uppercase().replace('-', "_"))
}

/// Where a resolved value came from (for error messages).
fn source_name(source: Source) -> &'static str {
    match source {
        Source::Flag => "command line",
        Source::Env => "environment",
        Source::File => "config file",
        Source::Default => "default",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Flag,
    Env,
    File,
    Default,
}

/// Every setting resolved, plus the config file it was merged with.
#[derive(Debug, Clone)]
pub struct Settings {
    values: BTreeMap<&'static str, (Value, Source)>,
    pub config_path: PathBuf,
    pub file: ConfigFile,
}

impl Settings {
    /// Merges the command line, the environment (`env` looks a variable up) and the config
    /// file, and checks every value against its type.
    pub fn resolve(
        flags: &GlobalFlags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let config_path = flags
            .config
            .clone()
            .or_else(|| env(&env_name("config")))
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(default_config_path);
        let file = ConfigFile::read(&config_path)?;
        let mut values = BTreeMap::new();
        for key in KEYS {
            let env_value = env(&env_name(key.name)).or_else(|| {
                // flowctl's own variable from before it took Hubble's.
                (key.name == "server")
                    .then(|| env("FLOWCTL_SERVER"))
                    .flatten()
            });
            let (value, source) = if let Some(v) = flags.get(key.name) {
                (v, Source::Flag)
            } else if let Some(v) = env_value {
                (Value::Scalar(v), Source::Env)
            } else if let Some(v) = file.values.get(key.name) {
                (v.clone(), Source::File)
            } else if key.name == "config" {
                (
                    Value::Scalar(config_path.display().to_string()),
                    Source::Default,
                )
            } else {
                (Value::Scalar(key.default.to_string()), Source::Default)
            };
            check(key, &value, source)?;
            values.insert(key.name, (value, source));
        }
        Ok(Settings {
            values,
            config_path,
            file,
        })
    }

    /// The resolved value of `key` (one of [`KEYS`]).
    pub fn value(&self, key: &str) -> Value {
        self.values
            .get(key)
            .map(|(v, _)| v.clone())
            .unwrap_or(Value::Scalar(String::new()))
    }

    fn scalar(&self, key: &str) -> String {
        self.value(key).as_scalar()
    }

    pub fn server(&self) -> String {
        self.scalar("server")
    }

    pub fn debug(&self) -> bool {
        goflags::parse_bool(&self.scalar("debug")).unwrap_or(false)
    }

    pub fn timeout(&self) -> Duration {
        goflags::parse_duration(&self.scalar("timeout")).unwrap_or(crate::client::DIAL_TIMEOUT)
    }

    pub fn request_timeout(&self) -> Duration {
        goflags::parse_duration(&self.scalar("request-timeout"))
            .unwrap_or(crate::client::REQUEST_TIMEOUT)
    }

    /// How to connect: `--timeout` and the TLS settings.
    pub fn dial(&self) -> crate::client::Dial {
        crate::client::Dial {
            timeout: self.timeout(),
            tls: crate::tls::TlsOptions {
                enabled: self.bool_set("tls"),
                allow_insecure: self.bool_set("tls-allow-insecure"),
                ca_cert_files: self.value("tls-ca-cert-files").as_list(),
                client_cert_file: self.scalar("tls-client-cert-file"),
                client_key_file: self.scalar("tls-client-key-file"),
                server_name: self.scalar("tls-server-name"),
            },
        }
    }

    /// Rejects the basic-auth and port-forward settings that flowctl cannot honour, rather
    /// than silently connecting without them.
    pub fn check_supported(&self) -> Result<(), SettingsError> {
        for key in KEYS {
            let is_set = match key.name {
                "port-forward" => self.bool_set(key.name),
                "basic-auth-username" | "basic-auth-password" => !self.scalar(key.name).is_empty(),
                _ => false,
            };
            if is_set {
                return Err(SettingsError::Unsupported(key.name));
            }
        }
        Ok(())
    }

    fn bool_set(&self, key: &str) -> bool {
        goflags::parse_bool(&self.scalar(key)).unwrap_or(false)
    }
}

/// Parses `value` as `key`'s type.
fn check(key: &'static Key, value: &Value, source: Source) -> Result<(), SettingsError> {
    let s = value.as_scalar();
    let result = match key.kind {
        Kind::Bool => goflags::parse_bool(&s).map(|_| ()),
        Kind::Duration => goflags::parse_duration(&s).map(|_| ()),
        Kind::Uint16 => goflags::parse_uint64(&s).and_then(|n| {
            u16::try_from(n)
                .map(|_| ())
                .map_err(|_| format!("strconv.ParseUint: parsing {s:?}: value out of range"))
        }),
        Kind::String | Kind::StringSlice => Ok(()),
    };
    result.map_err(|reason| SettingsError::Invalid {
        key: key.name,
        value: s,
        origin: source_name(source),
        reason,
    })
}

/// `--allowlist` / `--denylist` from `HUBBLE_ALLOWLIST` (split on whitespace, as viper
/// does) or the config file, for when the flag is not on the command line.
pub fn raw_filters(
    key: &str,
    file: &ConfigFile,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    if let Some(v) = env(&env_name(key)) {
        return Value::Scalar(v).as_list();
    }
    file.values.get(key).map(Value::as_list).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn precedence_flag_env_file_default() {
        let dir = std::env::temp_dir().join(format!("flowctl-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("config.yaml");
        std::fs::write(&path, "server: file:1\ntimeout: 7s\ndebug: true\n").expect("write");
        let mut flags = GlobalFlags {
            config: Some(path.display().to_string()),
            ..Default::default()
        };
        let s = Settings::resolve(&flags, no_env).expect("resolve");
        assert_eq!(s.server(), "file:1");
        assert_eq!(s.timeout(), Duration::from_secs(7));
        assert!(s.debug());
        assert_eq!(s.request_timeout(), Duration::from_secs(12));
        let env = |k: &str| (k == "HUBBLE_SERVER").then(|| "env:2".to_string());
        assert_eq!(
            Settings::resolve(&flags, env).expect("env").server(),
            "env:2"
        );
        flags.server = Some("flag:3".into());
        assert_eq!(
            Settings::resolve(&flags, env).expect("flag").server(),
            "flag:3"
        );
        flags.timeout = Some("soon".into());
        let err = Settings::resolve(&flags, no_env).expect_err("bad duration");
        assert!(err.to_string().contains("--timeout"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn yaml_scalars_quote_like_yaml_v3() {
        assert_eq!(yaml_string("localhost:4244"), "localhost:4244");
        assert_eq!(yaml_string(""), "\"\"");
        assert_eq!(yaml_string("4245"), "\"4245\"");
        assert_eq!(yaml_string("true"), "\"true\"");
        assert_eq!(yaml_string("5s"), "5s");
        assert_eq!(yaml_string("{\"a\":1}"), "\"{\\\"a\\\":1}\"");
    }
}
