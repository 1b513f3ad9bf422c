//! Amounts in a currency's minor units, as Stripe counts them: two
//! decimals for most currencies, none for Stripe's zero-decimal ones
//! (¥800 is 800, not 80000). Stripe's three-decimal currencies are not
//! offered: their amounts must end in 0, a rule no venue should meet at
//! the kiosk.

use thiserror::Error;

/// Stripe's zero-decimal currencies (docs: "Zero-decimal currencies").
pub const ZERO_DECIMAL: [&str; 16] = [
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Stripe's three-decimal currencies, refused by the configuration.
pub const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("`{0}` is not a price like 7.99")]
    NotAPrice(String),
    #[error("`{0}` is not a price like 800 (this currency has no decimals)")]
    NotAWholePrice(String),
    #[error("cannot be negative")]
    Negative,
    #[error("too large")]
    TooLarge,
}

/// Digits after the decimal point in `currency` (any case).
pub fn decimals(currency: &str) -> u32 {
    let lower = currency.to_ascii_lowercase();
    if ZERO_DECIMAL.contains(&lower.as_str()) {
        0
    } else {
        2
    }
}

/// `minor` units as a decimal: "7.99", "-0.50", "800" for ¥800.
pub fn format_minor(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    match decimals(currency) {
        0 => format!("{sign}{m}"),
        _ => format!("{sign}{}.{:02}", m / 100, m % 100),
    }
}

/// "7.99 USD", "800 JPY": how a page shows a price.
pub fn price_text(minor: u32, currency: &str) -> String {
    format!(
        "{} {}",
        format_minor(minor.into(), currency),
        currency.to_uppercase()
    )
}

/// A price typed by staff ("7.99", "7.9", "$7", "800" for yen) in minor
/// units. Refuses negatives, fractions below the minor unit and text.
pub fn parse_price(text: &str, currency: &str) -> Result<u32, MoneyError> {
    let s = text.trim().trim_start_matches(['$', '€', '£', '¥', '₩']);
    if s.starts_with('-') {
        return Err(MoneyError::Negative);
    }
    let places = decimals(currency) as usize;
    let shown = || s.chars().take(12).collect::<String>();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| !t.is_empty() && t.len() <= 6 && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!frac.is_empty() && !digits(frac)) {
        return Err(MoneyError::NotAPrice(shown()));
    }
    if frac.len() > places {
        return Err(if places == 0 {
            MoneyError::NotAWholePrice(shown())
        } else {
            MoneyError::NotAPrice(shown())
        });
    }
    let whole: u32 = whole.parse().map_err(|_| MoneyError::TooLarge)?;
    // "7.9" is 7.90: pad the fraction to the currency's places.
    let frac = format!("{frac:0<places$}");
    let frac: u32 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| MoneyError::NotAPrice(shown()))?
    };
    whole
        .checked_mul(10u32.pow(places as u32))
        .and_then(|w| w.checked_add(frac))
        .ok_or(MoneyError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_decimal_currencies_have_no_minor_unit() {
        for c in ["jpy", "JPY", "krw", "clp", "vnd"] {
            assert_eq!(decimals(c), 0, "{c}");
        }
        for c in ["usd", "eur", "gbp", "chf", "mxn"] {
            assert_eq!(decimals(c), 2, "{c}");
        }
        assert!(THREE_DECIMAL.iter().all(|c| !ZERO_DECIMAL.contains(c)));
    }

    #[test]
    fn amounts_print_in_the_currency_s_units() {
        assert_eq!(format_minor(799, "usd"), "7.99");
        assert_eq!(format_minor(-50, "eur"), "-0.50");
        assert_eq!(format_minor(800, "jpy"), "800");
        assert_eq!(format_minor(12000, "krw"), "12000");
        assert_eq!(price_text(800, "jpy"), "800 JPY");
        assert_eq!(price_text(950, "chf"), "9.50 CHF");
    }

    #[test]
    fn typed_prices_parse_in_the_currency_s_units() {
        assert_eq!(parse_price("7.99", "usd"), Ok(799));
        assert_eq!(parse_price(" $7.9 ", "usd"), Ok(790));
        assert_eq!(parse_price("7", "eur"), Ok(700));
        assert_eq!(parse_price("800", "jpy"), Ok(800));
        assert_eq!(parse_price("¥800", "jpy"), Ok(800));
        assert_eq!(parse_price("12000", "krw"), Ok(12000));
        assert!(matches!(
            parse_price("8.5", "jpy"),
            Err(MoneyError::NotAWholePrice(_))
        ));
        assert!(matches!(
            parse_price("7.999", "usd"),
            Err(MoneyError::NotAPrice(_))
        ));
        assert_eq!(parse_price("-1", "usd"), Err(MoneyError::Negative));
        for bad in ["", ".5", "seven", "7,99", "1e3", "1234567"] {
            assert!(parse_price(bad, "usd").is_err(), "{bad:?}");
        }
    }
}
