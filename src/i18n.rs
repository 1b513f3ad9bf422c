//! The kiosk's words in its four languages: one catalogue,
//! `kiosk-ui/i18n.json`, built into the binary. The kiosk screen gets it
//! as `/i18n.js`; the guest's phone pages read it here. A phone's
//! `Accept-Language` picks the language ([`negotiate`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// The languages, as the catalogue, presets and settings name them.
pub const LANGUAGES: [&str; 4] = ["en", "de", "fr", "es"];

/// The catalogue as the kiosk screen loads it.
pub const CATALOGUE_JSON: &str = include_str!("../kiosk-ui/i18n.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    De,
    Fr,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::De, Lang::Fr, Lang::Es];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
        }
    }

    /// The language's own name, for a switch between them.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::De => "Deutsch",
            Lang::Fr => "Français",
            Lang::Es => "Español",
        }
    }

    /// `de`, `de-CH`, `DE`: German; anything else of ours likewise.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim();
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    /// The text for `key`, in English where this language lacks it (a
    /// unit test sees that none does); empty for a key not there at all.
    pub fn text(self, key: &str) -> &'static str {
        let c = &*CATALOGUE;
        c.get(&self)
            .and_then(|words| words.get(key))
            .or_else(|| c.get(&Lang::En).and_then(|words| words.get(key)))
            .map_or("", String::as_str)
    }

    /// [`Lang::text`] with each `{name}` filled in.
    pub fn fill(self, key: &str, values: &[(&str, &str)]) -> String {
        fill(self.text(key), values)
    }
}

/// The first of our languages the `Accept-Language` header asks for.
pub fn negotiate(accept_language: &str) -> Option<Lang> {
    accept_language::parse(accept_language)
        .iter()
        .find_map(|tag| Lang::parse(tag))
}

/// `template` with each `{name}` replaced by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

type Words = HashMap<String, String>;

#[derive(Deserialize)]
struct Catalogue {
    en: Words,
    de: Words,
    fr: Words,
    es: Words,
}

static CATALOGUE: LazyLock<HashMap<Lang, Words>> = LazyLock::new(|| {
    // Checked by the unit tests below; a broken file fails them, and here
    // it leaves pages with empty words rather than a kiosk that panics.
    let c: Catalogue = serde_json::from_str(CATALOGUE_JSON).unwrap_or_else(|e| {
        tracing::error!("kiosk-ui/i18n.json: {e}");
        Catalogue {
            en: Words::new(),
            de: Words::new(),
            fr: Words::new(),
            es: Words::new(),
        }
    });
    HashMap::from([
        (Lang::En, c.en),
        (Lang::De, c.de),
        (Lang::Fr, c.fr),
        (Lang::Es, c.es),
    ])
});

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(text: &str) -> Vec<&str> {
        let mut names: Vec<&str> = text
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn every_language_has_every_word_with_the_same_placeholders() {
        let c: Catalogue = serde_json::from_str(CATALOGUE_JSON).expect("the catalogue is JSON");
        assert!(c.en.len() > 100, "{}", c.en.len());
        for (lang, words) in [("de", &c.de), ("fr", &c.fr), ("es", &c.es)] {
            for (key, english) in &c.en {
                let text = words
                    .get(key)
                    .unwrap_or_else(|| panic!("{lang} lacks {key}"));
                assert!(!text.trim().is_empty(), "{lang}.{key} is empty");
                assert_eq!(placeholders(text), placeholders(english), "{lang}.{key}");
            }
            for key in words.keys() {
                assert!(c.en.contains_key(key), "{lang}.{key} is not in en");
            }
        }
    }

    #[test]
    fn the_phone_picks_the_first_language_it_asks_for_that_we_speak() {
        assert_eq!(negotiate("de-CH,de;q=0.9,en;q=0.8"), Some(Lang::De));
        assert_eq!(negotiate("ja, fr-CA;q=0.7, en;q=0.5"), Some(Lang::Fr));
        assert_eq!(negotiate("en;q=0.2, es;q=0.9"), Some(Lang::Es));
        assert_eq!(negotiate("ja, zh"), None);
        assert_eq!(negotiate(""), None);
        assert_eq!(negotiate(";;;,,q=x"), None);
    }

    #[test]
    fn words_are_looked_up_and_filled() {
        assert_eq!(Lang::De.text("page_delete"), "Löschen");
        assert_eq!(
            Lang::Fr.fill("page_pay", &[("price", "7,99 €")]),
            "Payer 7,99 € et télécharger en HD"
        );
        assert_eq!(Lang::Es.text("no_such_key"), "");
        assert_eq!(Lang::parse("ES-mx"), Some(Lang::Es));
        assert_eq!(Lang::parse("tlh"), None);
        for (lang, code) in Lang::ALL.iter().zip(LANGUAGES) {
            assert_eq!(lang.code(), code);
        }
    }
}
