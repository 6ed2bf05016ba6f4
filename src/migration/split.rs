//! Splitting a section into statements with PostgreSQL's own grammar (libpg_query), so
//! `$$` bodies, quoted strings and comments are never cut in the wrong place.

/// One statement of a section, with its byte offset in the section's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    pub sql: &'a str,
    pub offset: usize,
}

impl Statement<'_> {
    /// The first line of the statement with its leading comments and blank lines left out,
    /// for messages that must name the statement.
    pub fn summary(&self) -> String {
        let line = self
            .sql
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("--"))
            .unwrap_or("");
        if line.chars().count() > 80 {
            format!("{}…", line.chars().take(79).collect::<String>())
        } else {
            line.to_string()
        }
    }

    /// `summary`, with ` …` when more lines of code follow: how the plan and the
    /// rehearsal name a statement.
    pub fn summary_line(&self) -> String {
        let mut summary = self.summary();
        let code_lines = self
            .sql
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
            .count();
        if code_lines > 1 && !summary.ends_with('…') {
            summary.push_str(" …");
        }
        summary
    }

    /// Byte offset of the statement's first character that is not white space or a
    /// leading comment: where a statement "starts" for a reader of the file.
    pub fn body_offset(&self) -> usize {
        let mut pos = 0;
        for line in self.sql.split_inclusive('\n') {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with("--") {
                pos += line.len();
            } else {
                return self.offset + pos + (line.len() - t.len());
            }
        }
        self.offset
    }
}

/// Splits SQL into statements. Text that the parser rejects (a syntax error the server
/// will report with its position) is cut at the `;` tokens the lexer finds, so no
/// statement is ever dropped; text that does not even lex stays whole.
pub fn split_statements(sql: &str) -> Vec<Statement<'_>> {
    let parts = pg_query::split_with_parser(sql).unwrap_or_else(|_| split_at_semicolons(sql));
    let base = sql.as_ptr() as usize;
    parts
        .into_iter()
        .filter(|part| has_code(part))
        .map(|part| Statement {
            sql: part,
            offset: part.as_ptr() as usize - base,
        })
        .collect()
}

fn split_at_semicolons(sql: &str) -> Vec<&str> {
    let Ok(scan) = pg_query::scan(sql) else {
        return vec![sql];
    };
    let mut parts = Vec::new();
    let mut start = 0;
    for token in &scan.tokens {
        if token.token == i32::from(b';') {
            let end = token.end as usize;
            parts.push(&sql[start..end]);
            start = end;
        }
    }
    parts.push(&sql[start..]);
    parts
}

/// False for text that holds only white space, `;` and comments.
fn has_code(sql: &str) -> bool {
    pg_query::scan(sql)
        .map(|scan| {
            scan.tokens.iter().any(|t| {
                !matches!(
                    pg_query::protobuf::Token::try_from(t.token),
                    Ok(pg_query::protobuf::Token::SqlComment | pg_query::protobuf::Token::CComment)
                ) && t.token != i32::from(b';')
            })
        })
        .unwrap_or(!sql.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_around_dollar_quotes_strings_and_comments() {
        let sql = "-- migrate:up transaction:false\ncreate function f() returns int as $$ select 1; $$ language sql;\ninsert into t values ('a;b'); /* ; */\n-- trailing comment\n";
        let stmts = split_statements(sql);
        assert_eq!(stmts.len(), 2);
        assert!(stmts[0].sql.contains("$$ select 1; $$"));
        assert_eq!(
            stmts[0].summary(),
            "create function f() returns int as $$ select 1; $$ language sql;"
                .trim_end_matches(';')
        );
        assert_eq!(&sql[stmts[1].body_offset()..][..6], "insert");
    }

    #[test]
    fn comments_only_is_empty() {
        assert!(split_statements("-- migrate:down\n\n-- nothing to undo\n").is_empty());
    }

    #[test]
    fn syntax_errors_still_split() {
        let stmts = split_statements("select 1;\nselec 2;\nselect 3;");
        assert_eq!(stmts.len(), 3);
    }
}
