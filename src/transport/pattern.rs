//! OpenSSH's host patterns (`match_pattern` and `match_pattern_list` in its match.c), shared
//! by known_hosts and ssh_config: `*` matches any run of characters, `?` exactly one, and
//! nothing else is special — `[host]:port` is a plain name here, not a character class.

/// Whether `text` matches `pattern` as a whole. Iterative, with one backtrack point per
/// `*`, so that a pattern like `*a*a*a*b` costs O(pattern × text), never exponential time.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// How a list of patterns, some negated with `!`, judges a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// A positive pattern matched and no negated one did.
    Yes,
    /// No pattern matched.
    No,
    /// A negated pattern matched: whatever else matched, the list does not apply.
    Negated,
}

/// OpenSSH's rule for a pattern list: a matching negated pattern wins over everything,
/// else any matching positive pattern. Names and patterns compare case-insensitively,
/// as OpenSSH lowercases host names before matching them.
pub fn list_match<'a>(patterns: impl IntoIterator<Item = &'a str>, name: &str) -> ListMatch {
    let name = name.to_lowercase();
    let mut result = ListMatch::No;
    for pattern in patterns {
        let pattern = pattern.to_lowercase();
        match pattern.strip_prefix('!') {
            Some(negated) if wildcard(negated, &name) => return ListMatch::Negated,
            Some(_) => {}
            None if wildcard(&pattern, &name) => result = ListMatch::Yes,
            None => {}
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks_only() {
        assert!(wildcard("*", ""));
        assert!(wildcard("*.lan", "nas.lan"));
        assert!(!wildcard("*.lan", "nas.lan.example"));
        assert!(wildcard("db?", "db1"));
        assert!(!wildcard("db?", "db12"));
        assert!(wildcard("[10.0.0.1]:*", "[10.0.0.1]:2222"));
        // Brackets are literal, not a character class.
        assert!(!wildcard("[ab]", "a"));
        assert!(wildcard("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
        assert!(!wildcard("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn a_negated_match_wins() {
        assert_eq!(
            list_match(["*.lab", "!secret.lab"], "pi.lab"),
            ListMatch::Yes
        );
        assert_eq!(
            list_match(["*.lab", "!secret.lab"], "secret.lab"),
            ListMatch::Negated
        );
        assert_eq!(list_match(["!secret.lab"], "pi.lab"), ListMatch::No);
        assert_eq!(list_match(["NAS"], "nas"), ListMatch::Yes);
    }
}
