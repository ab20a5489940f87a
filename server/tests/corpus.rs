//! Differential test of the datapath decoder against Hubble: 3,000 real monitor records and,
//! line for line, the flow Hubble v1.19 decoded from each (tests/data/monitor-v1.19, vendored).
//!
//! Every field must match except `time` and `uuid` (clock and randomness when the corpus was
//! made) and `emitter` (flowd reports itself as `Flowscope`; documented difference).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use flowscope_proto::types::Timestamp;
use flowscope_server::identity::ClusterState;
use flowscope_server::parser::l34::L34Parser;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/monitor-v1.19");
const EXPECTED_RECORDS: usize = 3000;
/// Fields that legitimately differ.
const IGNORED: &[&str] = &["time", "uuid", "emitter"];
const SHOW: usize = 10;

/// `(kind, record)` pairs of events.bin: `u8 kind, u32 LE length, record`.
fn records(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some((&kind, tail)) = rest.split_first() {
        let (len, tail) = tail.split_first_chunk::<4>().expect("record length");
        let len = u32::from_le_bytes(*len) as usize;
        assert!(tail.len() >= len, "record {} is cut short", out.len());
        let (rec, tail) = tail.split_at(len);
        out.push((kind, rec));
        rest = tail;
    }
    out
}

#[test]
fn decodes_the_corpus_exactly_as_hubble() {
    let dir = Path::new(CORPUS);
    let state = ClusterState::load(&dir.join("cluster.json")).expect("cluster.json loads");
    let events = std::fs::read(dir.join("events.bin")).expect("events.bin");
    let expected = std::fs::read_to_string(dir.join("expected.jsonl")).expect("expected.jsonl");
    let expected: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
    let records = records(&events);
    assert_eq!(records.len(), EXPECTED_RECORDS, "records in events.bin");
    assert_eq!(expected.len(), EXPECTED_RECORDS, "lines in expected.jsonl");

    let mut parser = L34Parser::new();
    let time = Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    };
    let mut matched = 0;
    let mut report = String::new();
    let mut shown = 0;
    for (i, ((kind, rec), line)) in records.iter().zip(&expected).enumerate() {
        let want = json::parse(line).unwrap_or_else(|e| panic!("expected line {}: {e}", i + 1));
        let mut problems = Vec::new();
        match parser.decode(rec, time, &state) {
            Ok(flow) => {
                let got = json::parse(&flowscope_proto::json::to_string(&flow))
                    .unwrap_or_else(|e| panic!("our JSON for record {i}: {e}"));
                let mut want_flow = want.get("flow").cloned().unwrap_or(json::Value::Null);
                let mut got_flow = got;
                for key in IGNORED {
                    want_flow.remove(key);
                    got_flow.remove(key);
                }
                json::diff("flow", &want_flow, &got_flow, &mut problems);
                if want.get("node_name").and_then(json::Value::as_str) != Some(state.node_name()) {
                    problems.push(format!(
                        "node_name: expected {:?}, state has {:?}",
                        want.get("node_name"),
                        state.node_name()
                    ));
                }
            }
            Err(e) => problems.push(format!("decode error: {e}")),
        }
        if problems.is_empty() {
            matched += 1;
        } else if shown < SHOW {
            shown += 1;
            let _ = writeln!(
                report,
                "record {i} (line {}, kind {kind}, {} bytes):",
                i + 1,
                rec.len()
            );
            for p in &problems {
                let _ = writeln!(report, "    {p}");
            }
        }
    }
    println!("corpus: {matched}/{EXPECTED_RECORDS} flows match Hubble");
    assert_eq!(
        matched,
        EXPECTED_RECORDS,
        "{} of {EXPECTED_RECORDS} flows differ from Hubble's; first {shown}:\n{report}",
        EXPECTED_RECORDS - matched
    );
}

/// Decode + enrich time per record over the corpus. Meaningful only in release:
/// `cargo test --release -p flowscope-server --test corpus -- --ignored --nocapture`.
#[test]
#[ignore = "timing only; run in release with --ignored --nocapture"]
fn decode_speed() {
    let dir = Path::new(CORPUS);
    let state = ClusterState::load(&dir.join("cluster.json")).expect("cluster.json loads");
    let events = std::fs::read(dir.join("events.bin")).expect("events.bin");
    let records = records(&events);
    let mut parser = L34Parser::new();
    let time = Timestamp::default();
    const ROUNDS: usize = 50;
    let mut ok = 0usize;
    let start = std::time::Instant::now();
    for _ in 0..ROUNDS {
        for (_, rec) in &records {
            if let Ok(flow) = parser.decode(rec, time, &state) {
                ok += usize::from(flow.l4.is_some());
            }
        }
    }
    let elapsed = start.elapsed();
    let n = ROUNDS * records.len();
    assert_eq!(ok, n);
    println!(
        "decode+enrich: {:.0} ns/record over {n} records",
        elapsed.as_nanos() as f64 / n as f64
    );
}

/// Just enough JSON to compare Hubble's output with ours field by field (the server crate
/// has no JSON parser among its dependencies).
mod json {
    use super::BTreeMap;

    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Null,
        Bool(bool),
        /// Kept as written: both sides print integers the same way.
        Number(String),
        String(String),
        Array(Vec<Value>),
        Object(BTreeMap<String, Value>),
    }

    impl Value {
        pub fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Object(m) => m.get(key),
                _ => None,
            }
        }

        pub fn remove(&mut self, key: &str) {
            if let Value::Object(m) = self {
                m.remove(key);
            }
        }

        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::String(s) => Some(s),
                _ => None,
            }
        }
    }

    impl std::fmt::Display for Value {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Value::Null => write!(f, "null"),
                Value::Bool(b) => write!(f, "{b}"),
                Value::Number(n) => write!(f, "{n}"),
                Value::String(s) => write!(f, "{s:?}"),
                Value::Array(a) => {
                    write!(f, "[")?;
                    for (i, v) in a.iter().enumerate() {
                        if i > 0 {
                            write!(f, ",")?;
                        }
                        write!(f, "{v}")?;
                    }
                    write!(f, "]")
                }
                Value::Object(m) => {
                    write!(f, "{{")?;
                    for (i, (k, v)) in m.iter().enumerate() {
                        if i > 0 {
                            write!(f, ",")?;
                        }
                        write!(f, "{k:?}:{v}")?;
                    }
                    write!(f, "}}")
                }
            }
        }
    }

    /// Differences between `want` and `got` as `path: expected …, got …` lines.
    pub fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
        match (want, got) {
            (Value::Object(w), Value::Object(g)) => {
                for (k, wv) in w {
                    let p = format!("{path}.{k}");
                    match g.get(k) {
                        Some(gv) => diff(&p, wv, gv, out),
                        None => out.push(format!("{p}: expected {wv}, missing")),
                    }
                }
                for (k, gv) in g {
                    if !w.contains_key(k) {
                        out.push(format!("{path}.{k}: not expected, got {gv}"));
                    }
                }
            }
            (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
                for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                    diff(&format!("{path}[{i}]"), wv, gv, out);
                }
            }
            _ if want != got => out.push(format!("{path}: expected {want}, got {got}")),
            _ => {}
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing data at byte {}", p.i));
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
                self.i += 1;
            }
        }

        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn expect(&mut self, b: u8) -> Result<(), String> {
            if self.peek() == Some(b) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("expected {:?} at byte {}", b as char, self.i))
            }
        }

        fn literal(&mut self, word: &str, v: Value) -> Result<Value, String> {
            if self.s[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                Ok(v)
            } else {
                Err(format!("bad literal at byte {}", self.i))
            }
        }

        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.peek() {
                Some(b'{') => {
                    self.i += 1;
                    let mut m = BTreeMap::new();
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Value::Object(m));
                    }
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.ws();
                        self.expect(b':')?;
                        let v = self.value()?;
                        m.insert(k, v);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(Value::Object(m));
                            }
                            _ => return Err(format!("bad object at byte {}", self.i)),
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut a = Vec::new();
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        return Ok(Value::Array(a));
                    }
                    loop {
                        a.push(self.value()?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(Value::Array(a));
                            }
                            _ => return Err(format!("bad array at byte {}", self.i)),
                        }
                    }
                }
                Some(b'"') => Ok(Value::String(self.string()?)),
                Some(b't') => self.literal("true", Value::Bool(true)),
                Some(b'f') => self.literal("false", Value::Bool(false)),
                Some(b'n') => self.literal("null", Value::Null),
                Some(b'-' | b'0'..=b'9') => {
                    let start = self.i;
                    while self.peek().is_some_and(|c| {
                        matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    }) {
                        self.i += 1;
                    }
                    let n =
                        std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                    Ok(Value::Number(n.to_string()))
                }
                _ => Err(format!("unexpected byte at {}", self.i)),
            }
        }

        fn hex4(&mut self) -> Result<u32, String> {
            let h = self
                .s
                .get(self.i..self.i + 4)
                .ok_or_else(|| "short \\u escape".to_string())?;
            self.i += 4;
            u32::from_str_radix(std::str::from_utf8(h).map_err(|e| e.to_string())?, 16)
                .map_err(|e| e.to_string())
        }

        fn string(&mut self) -> Result<String, String> {
            self.expect(b'"')?;
            let mut out = Vec::new();
            loop {
                let Some(c) = self.peek() else {
                    return Err("unterminated string".to_string());
                };
                self.i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let Some(e) = self.peek() else {
                            return Err("unterminated escape".to_string());
                        };
                        self.i += 1;
                        let ch = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let mut cp = self.hex4()?;
                                if (0xd800..0xdc00).contains(&cp)
                                    && self.s[self.i..].starts_with(b"\\u")
                                {
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    cp = 0x10000
                                        + ((cp - 0xd800) << 10)
                                        + (lo.wrapping_sub(0xdc00) & 0x3ff);
                                }
                                char::from_u32(cp).unwrap_or('\u{fffd}')
                            }
                            _ => return Err(format!("bad escape at byte {}", self.i)),
                        };
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    _ => out.push(c),
                }
            }
            String::from_utf8(out).map_err(|e| e.to_string())
        }
    }
}
