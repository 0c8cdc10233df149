//! `go_enum!`: an enum that the Go server writes and reads as a string, with Go's decoding
//! rules (`null` is the zero value; some enums take any case or an empty string) and the text
//! of the error Go's `UnmarshalJSON` returns for an unknown spelling.

/// How an unknown spelling is reported, as the Go type's `UnmarshalJSON` words it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UnknownSpelling {
    /// `fmt.Errorf("can not unmarshal %q", data)`: the JSON text quoted once more,
    /// `can not unmarshal "\"x\""`.
    CanNotUnmarshal,
    /// `fmt.Errorf("<prefix> %v", string(data))`: the JSON text as it came, `<prefix> "x"`.
    Prefixed(&'static str),
}

impl UnknownSpelling {
    /// The error text for the JSON string `text` (given without its quotes).
    pub(crate) fn message(self, text: &str) -> String {
        match self {
            UnknownSpelling::CanNotUnmarshal => format!("can not unmarshal \"\\\"{text}\\\"\""),
            UnknownSpelling::Prefixed(prefix) => format!("{prefix} \"{text}\""),
        }
    }
}

/// The error wording of most of Go's JSON enums.
pub(crate) const CAN_NOT_UNMARSHAL: UnknownSpelling = UnknownSpelling::CanNotUnmarshal;

macro_rules! go_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }
     default $default:ident, case_insensitive $ci:literal, empty_is_default $empty:literal,
     error $error:expr $(, also $alias:literal => $alias_variant:ident)?) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The JSON spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// Parses the JSON spelling.
            pub fn parse(text: &str) -> Option<Self> {
                $(if text == $text || ($ci && text.eq_ignore_ascii_case($text)) {
                    return Some($name::$variant);
                })+
                $(if text == $alias {
                    return Some($name::$alias_variant);
                })?
                None
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text: Option<String> = Option::deserialize(deserializer)?;
                match text {
                    None => Ok($name::$default),
                    Some(text) if $empty && text.is_empty() => Ok($name::$default),
                    Some(text) => $name::parse(&text).ok_or_else(|| {
                        let spelling: $crate::api::go_enum::UnknownSpelling = $error;
                        serde::de::Error::custom(spelling.message(&text))
                    }),
                }
            }
        }
    };
}

pub(crate) use go_enum;
