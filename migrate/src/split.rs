//! Splitting a migration into statements with sqlparser's tokenizer, so
//! each one can run on its own and be named by its line in the file.
//!
//! A statement ends at a semicolon outside strings, quoted identifiers,
//! comments and dollar-quoted bodies (the tokenizer knows all of those for
//! the backend's dialect). Inside `CREATE TRIGGER`, `CREATE PROCEDURE`,
//! `CREATE FUNCTION` and `CREATE EVENT` statements, semicolons between
//! `BEGIN` and its matching `END` (also `CASE … END`) belong to the body.
//! The comments between two statements are kept with the statement after
//! them: that is where `-- appenv:allow` annotations live.

use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::backend::DatabaseKind;

/// The sqlparser dialect of a backend.
pub(crate) fn dialect(backend: DatabaseKind) -> Box<dyn Dialect> {
    match backend {
        DatabaseKind::Postgres => Box::new(PostgreSqlDialect {}),
        DatabaseKind::MySql => Box::new(MySqlDialect {}),
        DatabaseKind::Sqlite => Box::new(SQLiteDialect {}),
    }
}

/// A comment of the file, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Comment {
    pub(crate) line: u64,
    /// The text without `--`, `#` or `/* */`.
    pub(crate) text: String,
}

/// One statement of a migration file.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    /// 1-based position in the file.
    pub(crate) index: usize,
    /// The statement's text (from its first token to its last, without the
    /// terminating semicolon).
    pub(crate) sql: String,
    /// 1-based line of its first token.
    pub(crate) line: u64,
    /// Byte offset in the file of its first token.
    pub(crate) start: usize,
    /// Comments between the previous statement and this one.
    pub(crate) leading_comments: Vec<Comment>,
    /// Comments inside the statement.
    pub(crate) inner_comments: Vec<Comment>,
    /// The statement's tokens without whitespace and comments, located in
    /// the file (for the lint's parser).
    pub(crate) tokens: Vec<TokenWithSpan>,
    /// Uppercase first word (`CREATE`, `INSERT`, …).
    pub(crate) first_word: String,
}

impl Statement {
    /// The whole of `sql` as one statement (for SQL the tokenizer cannot
    /// read, run in one piece).
    pub(crate) fn whole(sql: &str) -> Statement {
        Statement {
            index: 1,
            sql: sql.to_owned(),
            line: 1,
            start: 0,
            leading_comments: Vec::new(),
            inner_comments: Vec::new(),
            tokens: Vec::new(),
            first_word: String::new(),
        }
    }

    /// `true` unless the statement is plain DML or a session setting: on
    /// MySQL/MariaDB everything else (DDL, `LOCK`, `CALL`, …) may commit
    /// the open transaction implicitly.
    pub(crate) fn may_auto_commit(&self) -> bool {
        !matches!(
            self.first_word.as_str(),
            "SELECT"
                | "INSERT"
                | "UPDATE"
                | "DELETE"
                | "REPLACE"
                | "WITH"
                | "SET"
                | "DO"
                | "VALUES"
        )
    }

    /// The 1-based line in the file of a 1-based character position inside
    /// this statement's text (a server's error position).
    #[cfg_attr(not(any(feature = "postgres", test)), allow(dead_code))]
    pub(crate) fn line_of_position(&self, position: usize) -> u64 {
        let before = self
            .sql
            .chars()
            .take(position.saturating_sub(1))
            .filter(|c| *c == '\n')
            .count();
        self.line + before as u64
    }
}

/// What was split, plus the comments after the last statement.
#[derive(Debug, Clone, Default)]
pub(crate) struct Split {
    pub(crate) statements: Vec<Statement>,
    pub(crate) trailing_comments: Vec<Comment>,
}

/// The tokenizer could not read the SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitError {
    pub(crate) line: u64,
    pub(crate) message: String,
}

/// Byte offsets of line starts, to turn sqlparser's (line, column in
/// characters) into byte offsets.
struct Lines<'a> {
    sql: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(sql: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        Lines { sql, starts }
    }

    fn offset(&self, loc: Location) -> usize {
        let line = usize::try_from(loc.line.max(1) - 1).unwrap_or(usize::MAX);
        let Some(&start) = self.starts.get(line) else {
            return self.sql.len();
        };
        let col = usize::try_from(loc.column.max(1) - 1).unwrap_or(usize::MAX);
        self.sql[start..]
            .char_indices()
            .nth(col)
            .map_or(self.sql.len(), |(i, _)| start + i)
    }
}

fn comment(token: &TokenWithSpan) -> Option<Comment> {
    let text = match &token.token {
        Token::Whitespace(Whitespace::SingleLineComment { comment, .. }) => comment.clone(),
        Token::Whitespace(Whitespace::MultiLineComment(text)) => text.clone(),
        _ => return None,
    };
    Some(Comment {
        line: token.span.start.line,
        text,
    })
}

fn word(token: &TokenWithSpan) -> Option<String> {
    match &token.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

fn keyword(token: &TokenWithSpan) -> Option<Keyword> {
    match &token.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    }
}

#[derive(Default)]
struct Pending {
    leading: Vec<Comment>,
    inner: Vec<Comment>,
    tokens: Vec<TokenWithSpan>,
    /// A routine or trigger whose body may hold `BEGIN … END`.
    compound: bool,
    depth: usize,
}

/// Splits `sql` into statements for `backend`'s dialect.
pub(crate) fn split(backend: DatabaseKind, sql: &str) -> Result<Split, SplitError> {
    let dialect = dialect(backend);
    let tokens = Tokenizer::new(dialect.as_ref(), sql)
        .tokenize_with_location()
        .map_err(|err| SplitError {
            line: err.location.line.max(1),
            message: err.message,
        })?;
    let lines = Lines::new(sql);
    let mut out = Split::default();
    let mut current = Pending::default();
    let significant: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .map(|(i, _)| i)
        .collect();
    let next_word = |after: usize| {
        significant
            .iter()
            .find(|&&i| i > after)
            .and_then(|&i| word(&tokens[i]))
    };
    for (i, token) in tokens.iter().enumerate() {
        if let Some(c) = comment(token) {
            if current.tokens.is_empty() {
                current.leading.push(c);
            } else {
                current.inner.push(c);
            }
            continue;
        }
        match &token.token {
            Token::Whitespace(_) | Token::EOF => continue,
            Token::SemiColon if current.depth == 0 => {
                finish(&mut out, &mut current, &lines);
                continue;
            }
            _ => {}
        }
        let kw = keyword(token);
        if current.tokens.is_empty() {
            current.compound = false;
        } else if current.depth == 0
            && current.tokens.first().and_then(keyword) == Some(Keyword::CREATE)
            && matches!(
                kw,
                Some(Keyword::TRIGGER | Keyword::PROCEDURE | Keyword::FUNCTION | Keyword::EVENT)
            )
        {
            current.compound = true;
        }
        if current.compound {
            match kw {
                Some(Keyword::BEGIN | Keyword::CASE) => current.depth += 1,
                Some(Keyword::END) => {
                    // END IF / LOOP / WHILE / REPEAT / FOR close blocks
                    // whose openers are not counted.
                    let closes_other = next_word(i).is_some_and(|w| {
                        matches!(w.as_str(), "IF" | "LOOP" | "WHILE" | "REPEAT" | "FOR")
                    });
                    if !closes_other {
                        current.depth = current.depth.saturating_sub(1);
                    }
                }
                _ => {}
            }
        }
        current.tokens.push(token.clone());
    }
    finish(&mut out, &mut current, &lines);
    out.trailing_comments = std::mem::take(&mut current.leading);
    Ok(out)
}

fn finish(out: &mut Split, current: &mut Pending, lines: &Lines<'_>) {
    if current.tokens.is_empty() {
        return;
    }
    let pending = std::mem::take(current);
    let first = &pending.tokens[0];
    let last = &pending.tokens[pending.tokens.len() - 1];
    let start = lines.offset(first.span.start);
    let end = lines.offset(last.span.end).max(start);
    let first_word = match &first.token {
        Token::Word(w) => w.value.to_ascii_uppercase(),
        other => other.to_string(),
    };
    out.statements.push(Statement {
        index: out.statements.len() + 1,
        sql: lines.sql[start..end].to_owned(),
        line: first.span.start.line,
        start,
        leading_comments: pending.leading,
        inner_comments: pending.inner,
        tokens: pending.tokens,
        first_word,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(backend: DatabaseKind, sql: &str) -> Vec<(u64, String)> {
        split(backend, sql)
            .unwrap()
            .statements
            .into_iter()
            .map(|s| (s.line, s.sql))
            .collect()
    }

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let sql = "-- first\nCREATE TABLE a (x TEXT DEFAULT ';');\n\nINSERT INTO a VALUES ('b;c'); /* ; */ SELECT \"x;y\" FROM a;\n";
        assert_eq!(
            texts(DatabaseKind::Postgres, sql),
            vec![
                (2, "CREATE TABLE a (x TEXT DEFAULT ';')".to_owned()),
                (4, "INSERT INTO a VALUES ('b;c')".to_owned()),
                (4, "SELECT \"x;y\" FROM a".to_owned()),
            ]
        );
        let s = split(DatabaseKind::Postgres, sql).unwrap();
        assert_eq!(s.statements[0].leading_comments[0].text.trim(), "first");
        assert_eq!(s.statements[2].leading_comments[0].text.trim(), ";");
    }

    #[test]
    fn dollar_quoted_bodies_stay_whole() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN PERFORM 1; RETURN 1; END $body$ LANGUAGE plpgsql;\nCREATE INDEX CONCURRENTLY i1 ON t (a);\nCREATE INDEX CONCURRENTLY i2 ON t (b)";
        let got = texts(DatabaseKind::Postgres, sql);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].1.ends_with("LANGUAGE plpgsql"));
        assert_eq!(
            got[2],
            (3, "CREATE INDEX CONCURRENTLY i2 ON t (b)".to_owned())
        );
    }

    #[test]
    fn trigger_bodies_keep_their_semicolons() {
        let sql = "CREATE TABLE t (a INT);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET a = CASE WHEN a > 1 THEN 1 ELSE 2 END;\n  DELETE FROM t WHERE a = 0;\nEND;\nBEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;";
        let got = texts(DatabaseKind::Sqlite, sql);
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(got[1].1.starts_with("CREATE TRIGGER") && got[1].1.ends_with("END"));
        assert_eq!(got[2], (6, "BEGIN".to_owned()));

        let mysql = "CREATE PROCEDURE p() BEGIN\n  IF 1 THEN SELECT 1; END IF;\n  WHILE 0 DO SELECT 2; END WHILE;\nEND;\nSELECT 3;";
        let got = texts(DatabaseKind::MySql, mysql);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1], (5, "SELECT 3".to_owned()));
    }

    #[test]
    fn multibyte_text_and_server_positions_map_to_lines() {
        let sql = "INSERT INTO t VALUES ('é;ü');\nSELECT\n  1,\n  nope FROM t;";
        let s = split(DatabaseKind::Postgres, sql).unwrap();
        assert_eq!(s.statements[0].sql, "INSERT INTO t VALUES ('é;ü')");
        let second = &s.statements[1];
        assert_eq!(second.line, 2);
        let pos = second.sql.find("nope").unwrap() + 1;
        assert_eq!(second.line_of_position(pos), 4);
    }

    #[test]
    fn trailing_comments_and_errors() {
        let s = split(DatabaseKind::Sqlite, "SELECT 1;\n-- the end\n").unwrap();
        assert_eq!(s.statements.len(), 1);
        assert_eq!(s.trailing_comments.len(), 1);
        let err = split(DatabaseKind::Postgres, "SELECT 1;\nSELECT 'open").unwrap_err();
        assert_eq!(err.line, 2);
    }
}
