//! MySQL/MariaDB and SQLite lint on sqlparser's AST for the dialect.
//!
//! Before a statement reaches sqlparser, [`recognise`] reads the valid
//! statements and clauses sqlparser 0.63 cannot parse, so nothing valid is
//! reported as unparseable: MySQL's `DO …`, `OPTIMIZE TABLE`,
//! `CREATE FULLTEXT|SPATIAL INDEX` and the table options of `ALTER TABLE`
//! (`ENGINE=`, `CONVERT TO CHARACTER SET`, `[DEFAULT] CHARACTER SET`,
//! `COLLATE`, `COMMENT=`, `ROW_FORMAT=`, `FORCE`, …); SQLite's `PRAGMA`
//! (sqlparser rejects `PRAGMA foreign_keys = OFF`) and `REINDEX`. The rest
//! of an `ALTER TABLE` whose options were taken out is parsed as usual.

use std::collections::HashSet;

use sqlparser::ast::{
    AlterColumnOperation, AlterTableAlgorithm, AlterTableLock, AlterTableOperation, ColumnOption,
    Expr, FromTable, ObjectName, ObjectNamePart, ObjectType, Statement, TableConstraint,
    TableFactor, TableWithJoins,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::{LintFinding, rules};
use crate::backend::DatabaseKind;
use crate::split::{self, Split};

pub(super) fn lint(
    backend: DatabaseKind,
    file: &str,
    no_transaction: bool,
    split: &Split,
) -> Vec<LintFinding> {
    let mut linter = Linter {
        backend,
        file,
        no_transaction,
        created: HashSet::new(),
        findings: Vec::new(),
    };
    for statement in &split.statements {
        linter.statement(statement);
    }
    linter.findings
}

/// A name as the backend matches it: MySQL/MariaDB and SQLite compare
/// table names without regard to case or quoting here (SQLite always does;
/// MySQL does on case-insensitive file systems, and two tables differing
/// only in case are rare enough); the schema/database part is kept.
fn key(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.to_lowercase(),
            other => other.to_string().to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn word_of(token: &TokenWithSpan) -> Option<String> {
    match &token.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

fn is_word(token: Option<&TokenWithSpan>, word: &str) -> bool {
    token.and_then(word_of).as_deref() == Some(word)
}

/// The table name starting at `tokens[at]` (`db.table`, quoted or not), and
/// the index after it.
fn name_at(tokens: &[TokenWithSpan], mut at: usize) -> (String, usize) {
    let mut name = String::new();
    while let Some(token) = tokens.get(at) {
        match &token.token {
            Token::Word(w) => name.push_str(&w.value.to_lowercase()),
            Token::Period => name.push('.'),
            _ => break,
        }
        at += 1;
        if !matches!(tokens.get(at).map(|t| &t.token), Some(Token::Period)) && !name.ends_with('.')
        {
            break;
        }
    }
    (name, at)
}

/// What [`recognise`] made of a statement.
#[derive(Debug, Default)]
struct Recognised {
    /// Tokens to hand to sqlparser (`None`: nothing left to parse).
    parse: Option<Vec<TokenWithSpan>>,
    /// `(rule, table, message)` for what was read here.
    findings: Vec<(&'static str, String, String)>,
}

/// Reads what sqlparser cannot; see the module docs.
fn recognise(backend: DatabaseKind, no_transaction: bool, tokens: &[TokenWithSpan]) -> Recognised {
    let first = tokens.first().and_then(word_of).unwrap_or_default();
    let mut out = Recognised::default();
    match (backend, first.as_str()) {
        (DatabaseKind::MySql, "DO") => {}
        (DatabaseKind::MySql, "OPTIMIZE") => {
            let mut at = 1;
            while tokens
                .get(at)
                .and_then(word_of)
                .is_some_and(|w| w == "NO_WRITE_TO_BINLOG" || w == "LOCAL")
            {
                at += 1;
            }
            if is_word(tokens.get(at), "TABLE") || is_word(tokens.get(at), "TABLES") {
                at += 1;
            }
            loop {
                let (name, next) = name_at(tokens, at);
                if name.is_empty() {
                    break;
                }
                out.findings.push((
                    rules::OPTIMIZE_TABLE,
                    name.clone(),
                    format!("OPTIMIZE TABLE {name} rebuilds the table"),
                ));
                at = next;
                if !matches!(tokens.get(at).map(|t| &t.token), Some(Token::Comma)) {
                    break;
                }
                at += 1;
            }
        }
        (DatabaseKind::MySql, "CREATE")
            if tokens
                .get(1)
                .and_then(word_of)
                .is_some_and(|w| w == "FULLTEXT" || w == "SPATIAL") =>
        {
            let kind = word_of(&tokens[1]).unwrap_or_default();
            let on = tokens.iter().position(|t| is_word(Some(t), "ON"));
            let table = on.map(|at| name_at(tokens, at + 1).0).unwrap_or_default();
            out.findings.push((
                rules::FULLTEXT_OR_SPATIAL_INDEX,
                table.clone(),
                format!("CREATE {kind} INDEX on {table} cannot run with LOCK=NONE (the first FULLTEXT index also rebuilds the table)"),
            ));
            let mut rest = tokens.to_vec();
            rest.remove(1);
            out.parse = Some(rest);
        }
        (DatabaseKind::MySql, "ALTER") => return alter_table_options(tokens),
        (DatabaseKind::Sqlite, "PRAGMA") => {
            let (name, at) = name_at(tokens, 1);
            let pragma = name.rsplit('.').next().unwrap_or_default().to_owned();
            if pragma == "foreign_keys" && tokens.len() > at && !no_transaction {
                out.findings.push((
                    rules::PRAGMA_FOREIGN_KEYS_IN_TRANSACTION,
                    String::new(),
                    "PRAGMA foreign_keys has no effect inside a transaction, and appenv runs this migration in one (its first line is not `-- appenv:no-transaction`)".to_owned(),
                ));
            }
        }
        (DatabaseKind::Sqlite, "REINDEX") => {}
        _ => out.parse = Some(tokens.to_vec()),
    }
    out
}

/// MySQL `ALTER [ONLINE] [IGNORE] TABLE t op, op, …`: takes out the table
/// options sqlparser cannot parse, reporting the ones that rebuild.
fn alter_table_options(tokens: &[TokenWithSpan]) -> Recognised {
    let mut out = Recognised::default();
    let mut at = 1;
    while tokens
        .get(at)
        .and_then(word_of)
        .is_some_and(|w| w == "ONLINE" || w == "IGNORE")
    {
        at += 1;
    }
    if !is_word(tokens.get(at), "TABLE") {
        out.parse = Some(tokens.to_vec());
        return out;
    }
    let (table, ops_start) = name_at(tokens, at + 1);
    // Split the operations at top-level commas.
    let mut ops: Vec<&[TokenWithSpan]> = Vec::new();
    let mut depth = 0usize;
    let mut begin = ops_start;
    for (i, t) in tokens.iter().enumerate().skip(ops_start) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => {
                ops.push(&tokens[begin..i]);
                begin = i + 1;
            }
            _ => {}
        }
    }
    ops.push(&tokens[begin..]);
    let mut kept: Vec<&[TokenWithSpan]> = Vec::new();
    for op in ops {
        let w0 = op.first().and_then(word_of).unwrap_or_default();
        let w1 = op.get(1).and_then(word_of).unwrap_or_default();
        let option = if w0 == "DEFAULT" {
            w1.as_str()
        } else {
            w0.as_str()
        };
        match option {
            "ENGINE" | "FORCE" => out.findings.push((
                rules::ENGINE_CHANGE,
                table.clone(),
                format!("ALTER TABLE {table} {} rebuilds the table", if option == "FORCE" { "FORCE" } else { "ENGINE=…" }),
            )),
            "CONVERT" => out.findings.push((
                rules::CONVERT_CHARSET,
                table.clone(),
                format!("ALTER TABLE {table} CONVERT TO CHARACTER SET rewrites every text column with ALGORITHM=COPY"),
            )),
            // Table options that change metadata only (defaults for new
            // columns, the comment) or tuning that sqlparser cannot read.
            "CHARACTER" | "CHARSET" | "COLLATE" | "COMMENT" | "ROW_FORMAT" | "KEY_BLOCK_SIZE"
            | "STATS_PERSISTENT" | "STATS_AUTO_RECALC" | "STATS_SAMPLE_PAGES" | "AVG_ROW_LENGTH"
            | "MAX_ROWS" | "MIN_ROWS" | "PACK_KEYS" | "CHECKSUM" | "DELAY_KEY_WRITE" => {}
            _ => kept.push(op),
        }
    }
    if kept.len() == 1 && kept[0].is_empty() && out.findings.is_empty() {
        // `ALTER TABLE t` alone: let the parser say what is missing.
        out.parse = Some(tokens.to_vec());
    } else if !kept.is_empty() && !kept.iter().all(|op| op.is_empty()) {
        let mut rebuilt = tokens[..ops_start].to_vec();
        for (i, op) in kept.iter().enumerate() {
            if i > 0 {
                rebuilt.push(TokenWithSpan::wrap(Token::Comma));
            }
            rebuilt.extend_from_slice(op);
        }
        out.parse = Some(rebuilt);
    }
    out
}

struct Linter<'a> {
    backend: DatabaseKind,
    file: &'a str,
    no_transaction: bool,
    created: HashSet<String>,
    findings: Vec<LintFinding>,
}

fn table_of(t: &TableWithJoins) -> Option<String> {
    match &t.relation {
        TableFactor::Table { name, .. } => Some(key(name)),
        _ => None,
    }
}

/// A constant default SQLite accepts on `ADD COLUMN`: a literal, or a
/// signed number.
fn is_constant(expr: &Expr) -> bool {
    match expr {
        Expr::Value(_) => true,
        Expr::UnaryOp { expr, .. } => matches!(expr.as_ref(), Expr::Value(_)),
        _ => false,
    }
}

impl Linter<'_> {
    fn statement(&mut self, st: &split::Statement) {
        let recognised = recognise(self.backend, self.no_transaction, &st.tokens);
        for (rule, table, message) in recognised.findings {
            if table.is_empty() || !self.created.contains(&table) {
                self.findings
                    .push(LintFinding::on(rule, self.file, st, message));
            }
        }
        let Some(tokens) = recognised.parse else {
            return;
        };
        let dialect = split::dialect(self.backend);
        let mut parser = Parser::new(dialect.as_ref()).with_tokens_with_locations(tokens);
        let parsed = parser.parse_statement().and_then(|stmt| {
            let next = parser.peek_token();
            if next.token == Token::EOF {
                Ok(stmt)
            } else {
                Err(sqlparser::parser::ParserError::ParserError(format!(
                    "unexpected `{}` at line {}",
                    next.token, next.span.start.line
                )))
            }
        });
        match parsed {
            Ok(stmt) => self.check(&stmt, st),
            Err(err) => self.findings.push(LintFinding::on(
                rules::UNPARSEABLE,
                self.file,
                st,
                format!(
                    "the {} parser cannot read this statement: {err}",
                    self.backend
                ),
            )),
        }
    }

    fn push(&mut self, rule: &'static str, st: &split::Statement, message: String) {
        self.findings
            .push(LintFinding::on(rule, self.file, st, message));
    }

    fn is_new(&self, name: &ObjectName) -> bool {
        self.created.contains(&key(name))
    }

    fn check(&mut self, stmt: &Statement, st: &split::Statement) {
        match stmt {
            // `IF NOT EXISTS` / `OR REPLACE` may leave an existing object in
            // place: it does not count as created in this file.
            Statement::CreateTable(create) if !create.if_not_exists && !create.or_replace => {
                self.created.insert(key(&create.name));
            }
            Statement::CreateView(view) if !view.or_replace && !view.if_not_exists => {
                self.created.insert(key(&view.name));
            }
            Statement::Drop {
                object_type: ObjectType::Table,
                names,
                ..
            } => {
                for name in names {
                    if !self.is_new(name) {
                        self.push(
                            rules::DROP_TABLE,
                            st,
                            format!("drops table {name}; running code that still reads it fails and the data is gone"),
                        );
                    }
                }
            }
            // MySQL/MariaDB: a schema is a database, and both forms drop it.
            Statement::Drop {
                object_type: ObjectType::Schema | ObjectType::Database,
                names,
                ..
            } => {
                for name in names {
                    self.push(
                        rules::BAN_DROP_DATABASE,
                        st,
                        format!("drops database {name} with every table the running release uses"),
                    );
                }
            }
            Statement::RenameTable(renames) => {
                for r in renames {
                    if !self.is_new(&r.old_name) {
                        self.push(
                            rules::RENAME_TABLE,
                            st,
                            format!("renames table {} to {}; the running release still uses the old name", r.old_name, r.new_name),
                        );
                    } else {
                        self.created.insert(key(&r.new_name));
                    }
                }
            }
            Statement::Truncate(t) if t.table_names.iter().any(|n| !self.is_new(&n.name)) => {
                self.push(
                    rules::TRUNCATE,
                    st,
                    "TRUNCATE deletes every row and takes an exclusive lock".into(),
                );
            }
            Statement::LockTables { tables }
                if tables
                    .iter()
                    .any(|t| !self.created.contains(&t.table.value.to_lowercase())) =>
            {
                self.push(
                    rules::LOCK_TABLE,
                    st,
                    "LOCK TABLES commits the open transaction and blocks the running release until UNLOCK TABLES".into(),
                );
            }
            Statement::Update(update)
                if update.selection.is_none()
                    && table_of(&update.table).is_some_and(|t| !self.created.contains(&t)) =>
            {
                self.push(
                    rules::UPDATE_WITHOUT_WHERE,
                    st,
                    format!(
                        "UPDATE {} without WHERE rewrites every row in one transaction",
                        update.table
                    ),
                );
            }
            Statement::Delete(delete) if delete.selection.is_none() => {
                let from = match &delete.from {
                    FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
                };
                if from
                    .iter()
                    .filter_map(table_of)
                    .any(|t| !self.created.contains(&t))
                {
                    self.push(
                        rules::DELETE_WITHOUT_WHERE,
                        st,
                        "DELETE without WHERE removes every row the running release reads".into(),
                    );
                }
            }
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
                if !self.no_transaction =>
            {
                self.push(
                    rules::EXPLICIT_TRANSACTION,
                    st,
                    format!("`{}` inside a migration appenv already runs in a transaction (its first line is not `-- appenv:no-transaction`)", st.first_word),
                );
            }
            Statement::Vacuum(_) if self.backend == DatabaseKind::Sqlite => self.push(
                rules::VACUUM,
                st,
                if self.no_transaction {
                    "VACUUM rewrites the whole database file while every writer waits".into()
                } else {
                    "VACUUM cannot run inside a transaction, and appenv runs this migration in one"
                        .into()
                },
            ),
            Statement::CreateIndex(index) => {
                if let Some(name) = &index.name {
                    self.created.insert(key(name));
                }
            }
            Statement::AlterTable(alter) => {
                if self.is_new(&alter.name) {
                    for op in &alter.operations {
                        if let AlterTableOperation::RenameTable { table_name } = op {
                            let new = table_name.to_string();
                            self.created.insert(
                                new.trim_start_matches("TO ")
                                    .trim()
                                    .to_lowercase()
                                    .replace(['`', '"'], ""),
                            );
                        }
                    }
                    return;
                }
                for op in &alter.operations {
                    self.alter(&alter.name, op, st);
                }
            }
            _ => {}
        }
    }

    fn alter(&mut self, table: &ObjectName, op: &AlterTableOperation, st: &split::Statement) {
        let mysql = self.backend == DatabaseKind::MySql;
        match op {
            AlterTableOperation::DropColumn { column_names, .. } => {
                let cols: Vec<String> = column_names.iter().map(|c| c.to_string()).collect();
                self.push(
                    rules::DROP_COLUMN,
                    st,
                    format!("drops column(s) {} of {table}; the running release may still read them", cols.join(", ")),
                );
            }
            AlterTableOperation::RenameTable { .. } => self.push(
                rules::RENAME_TABLE,
                st,
                format!("renames table {table}; the running release still uses the old name"),
            ),
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => self.rename_column(table, &old_column_name.to_string(), &new_column_name.to_string(), st),
            AlterTableOperation::ChangeColumn {
                old_name, new_name, ..
            } => {
                if !old_name.value.eq_ignore_ascii_case(&new_name.value) {
                    self.rename_column(table, &old_name.to_string(), &new_name.to_string(), st);
                }
                self.type_change(table, &new_name.to_string(), st);
            }
            AlterTableOperation::ModifyColumn { col_name, .. } => {
                self.type_change(table, &col_name.to_string(), st)
            }
            AlterTableOperation::AlterColumn { column_name, op } => match op {
                AlterColumnOperation::SetNotNull => self.push(
                    rules::SET_NOT_NULL,
                    st,
                    format!("SET NOT NULL on {table}.{column_name} scans the table under an exclusive lock and fails on existing NULLs"),
                ),
                AlterColumnOperation::SetDataType { .. } => {
                    self.type_change(table, &column_name.to_string(), st)
                }
                _ => {}
            },
            AlterTableOperation::AddColumn { column_def, .. } => {
                let not_null = column_def
                    .options
                    .iter()
                    .any(|o| matches!(o.option, ColumnOption::NotNull));
                let default = column_def.options.iter().find_map(|o| match &o.option {
                    ColumnOption::Default(expr) => Some(expr),
                    _ => None,
                });
                let generated = column_def.options.iter().any(|o| {
                    matches!(o.option, ColumnOption::Generated { .. } | ColumnOption::Materialized(_))
                });
                if not_null && default.is_none() && !generated {
                    self.push(
                        rules::ADD_NOT_NULL_COLUMN,
                        st,
                        format!("adds NOT NULL column {} to {table} without a default; fails on a non-empty table and breaks inserts of the running release", column_def.name),
                    );
                }
                if self.backend == DatabaseKind::Sqlite
                    && let Some(expr) = default
                    && !is_constant(expr)
                {
                    self.push(
                        rules::ADD_COLUMN_NON_CONSTANT_DEFAULT,
                        st,
                        format!("adds column {} to {table} with the non-constant default {expr}, which SQLite refuses on a table with rows", column_def.name),
                    );
                }
            }
            AlterTableOperation::AddConstraint { constraint, .. } if mysql => match constraint {
                TableConstraint::ForeignKey(fk) => self.push(
                    rules::ADD_FOREIGN_KEY,
                    st,
                    format!("adds foreign key {} to {table}; with foreign_key_checks=1 InnoDB copies the table (ALGORITHM=COPY) and writes wait", fk.name.as_ref().map(|n| n.to_string()).unwrap_or_default()).replace("key  to", "key to"),
                ),
                TableConstraint::PrimaryKey(_) => self.push(
                    rules::PRIMARY_KEY_CHANGE,
                    st,
                    format!("adds a primary key to {table}, which rebuilds the whole table"),
                ),
                TableConstraint::FulltextOrSpatial(_) => self.push(
                    rules::FULLTEXT_OR_SPATIAL_INDEX,
                    st,
                    format!("adds a FULLTEXT/SPATIAL index to {table}; it cannot run with LOCK=NONE (the first FULLTEXT index also rebuilds the table)"),
                ),
                _ => {}
            },
            AlterTableOperation::DropPrimaryKey { .. } if mysql => self.push(
                rules::PRIMARY_KEY_CHANGE,
                st,
                format!("drops the primary key of {table}, which rebuilds the whole table"),
            ),
            AlterTableOperation::Algorithm {
                algorithm: AlterTableAlgorithm::Copy,
                ..
            } => self.push(
                rules::ALGORITHM_COPY,
                st,
                format!("ALGORITHM=COPY copies {table}; concurrent writes wait until it ends"),
            ),
            AlterTableOperation::Lock {
                lock: lock @ (AlterTableLock::Shared | AlterTableLock::Exclusive),
                ..
            } => self.push(
                rules::LOCK_SHARED_OR_EXCLUSIVE,
                st,
                format!("LOCK={lock} blocks {} on {table} for the whole ALTER", if matches!(lock, AlterTableLock::Shared) { "writes" } else { "reads and writes" }),
            ),
            _ => {}
        }
    }

    fn rename_column(&mut self, table: &ObjectName, old: &str, new: &str, st: &split::Statement) {
        self.push(
            rules::RENAME_COLUMN,
            st,
            format!(
                "renames column {table}.{old} to {new}; the running release still uses the old name"
            ),
        );
    }

    fn type_change(&mut self, table: &ObjectName, column: &str, st: &split::Statement) {
        self.push(
            rules::CHANGE_COLUMN_TYPE,
            st,
            format!("changes the type of {table}.{column}; may rewrite the table under an exclusive lock and break the running release"),
        );
    }
}
