//! `google.protobuf.Timestamp` with Hubble's JSON form.
//!
//! Go's protojson writes RFC 3339 in UTC with a `Z` and 0, 3, 6 or 9 fraction digits
//! (`2023-08-23T15:43:26Z`, `…24.081Z`, `…24.080123456Z`). pbjson-types writes `+00:00`, so
//! the proto build maps `.google.protobuf.Timestamp` to this type instead.

use std::fmt;

use chrono::{DateTime, Utc};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl ::prost::Name for Timestamp {
    const NAME: &'static str = "Timestamp";
    const PACKAGE: &'static str = "google.protobuf";
    fn full_name() -> String {
        "google.protobuf.Timestamp".to_string()
    }
    fn type_url() -> String {
        "type.googleapis.com/google.protobuf.Timestamp".to_string()
    }
}

impl Timestamp {
    pub fn from_unix_nanos(ns: i128) -> Self {
        Timestamp {
            seconds: ns.div_euclid(1_000_000_000) as i64,
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }

    pub fn as_unix_nanos(&self) -> i128 {
        i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos)
    }

    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    pub fn to_datetime(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.seconds, u32::try_from(self.nanos).ok()?)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(dt) = self.to_datetime() else {
            return Err(fmt::Error);
        };
        write!(f, "{}", dt.format("%Y-%m-%dT%H:%M:%S"))?;
        let n = dt.timestamp_subsec_nanos();
        if n == 0 {
        } else if n % 1_000_000 == 0 {
            write!(f, ".{:03}", n / 1_000_000)?;
        } else if n % 1_000 == 0 {
            write!(f, ".{:06}", n / 1_000)?;
        } else {
            write!(f, ".{n:09}")?;
        }
        f.write_str("Z")
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.to_datetime().is_none() {
            return Err(serde::ser::Error::custom("timestamp out of range"));
        }
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| Timestamp::from(t.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("invalid timestamp {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_protojson_form() {
        let t = |s, n| {
            serde_json::to_string(&Timestamp {
                seconds: s,
                nanos: n,
            })
            .expect("ser")
        };
        assert_eq!(t(1_692_805_406, 0), "\"2023-08-23T15:43:26Z\"");
        assert_eq!(t(1_692_805_404, 81_000_000), "\"2023-08-23T15:43:24.081Z\"");
        assert_eq!(
            t(1_692_805_404, 80_123_000),
            "\"2023-08-23T15:43:24.080123Z\""
        );
        assert_eq!(
            t(1_692_805_404, 80_123_456),
            "\"2023-08-23T15:43:24.080123456Z\""
        );
        let back: Timestamp =
            serde_json::from_str("\"2023-08-23T17:43:24.080123456+02:00\"").expect("de");
        assert_eq!(
            back,
            Timestamp {
                seconds: 1_692_805_404,
                nanos: 80_123_456
            }
        );
    }
}
