//! The `model` key: either the model's name (`model = "quorum"`) or a table with the name
//! and the model's own settings (`[model]` with `name = "quorum"`), which this crate keeps
//! raw and the model deserializes into its own config type.
//!
//! For that, [`ModelOnly`] re-reads the whole file with toml, skipping every top-level key
//! but `model` and hiding the `name` key from the model's type, so that toml itself reports
//! the spans of whatever the model's type refuses.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::StringDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny,
    IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;

/// The key of the `[model]` table that names the model.
pub const NAME_KEY: &str = "name";

/// The `model` key as written.
#[derive(Clone, Debug)]
pub enum RawModel {
    Name(String),
    Table(toml::Table),
}

impl<'de> Deserialize<'de> for RawModel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawModel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the model's name (model = \"quorum\") or a [model] table with `name = \"quorum\"` and the model's settings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawModel, E> {
                Ok(RawModel::Name(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawModel, A::Error> {
                let mut table = toml::Table::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: toml::Value = map.next_value()?;
                    table.insert(k, v);
                }
                Ok(RawModel::Table(table))
            }
        }
        d.deserialize_any(V)
    }
}

/// The whole file, read for its `model` table only, as the model's type `T`.
pub struct ModelOnly<T>(pub Option<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for ModelOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
            type Value = ModelOnly<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scenario")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModelOnly<T>, A::Error> {
                let mut out = None;
                while let Some(k) = map.next_key::<String>()? {
                    if k == "model" && out.is_none() {
                        out = Some(map.next_value_seed(SkipNameSeed::<T>(PhantomData))?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ModelOnly(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

struct SkipNameSeed<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for SkipNameSeed<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(SkipName(d))
    }
}

/// A deserializer that hides the `name` key of the table it reads.
struct SkipName<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for SkipName<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(SkipNameVisitor(v))
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(SkipNameVisitor(v))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, SkipNameVisitor(v))
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_option(SkipNameVisitor(v))
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, SkipNameVisitor(v))
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct identifier ignored_any
    }
}

struct SkipNameVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for SkipNameVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(SkipNameMap(map))
    }
    fn visit_bool<E: de::Error>(self, x: bool) -> Result<V::Value, E> {
        self.0.visit_bool(x)
    }
    fn visit_i64<E: de::Error>(self, x: i64) -> Result<V::Value, E> {
        self.0.visit_i64(x)
    }
    fn visit_u64<E: de::Error>(self, x: u64) -> Result<V::Value, E> {
        self.0.visit_u64(x)
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<V::Value, E> {
        self.0.visit_f64(x)
    }
    fn visit_str<E: de::Error>(self, x: &str) -> Result<V::Value, E> {
        self.0.visit_str(x)
    }
    fn visit_borrowed_str<E: de::Error>(self, x: &'de str) -> Result<V::Value, E> {
        self.0.visit_borrowed_str(x)
    }
    fn visit_string<E: de::Error>(self, x: String) -> Result<V::Value, E> {
        self.0.visit_string(x)
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(SkipName(d))
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(SkipName(d))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(seq)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, e: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(e)
    }
}

struct SkipNameMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipNameMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            match self.0.next_key::<String>()? {
                None => return Ok(None),
                Some(k) if k == NAME_KEY => {
                    self.0.next_value::<IgnoredAny>()?;
                }
                Some(k) => {
                    let key: StringDeserializer<A::Error> = k.into_deserializer();
                    return seed.deserialize(key).map(Some);
                }
            }
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}
