//! PostgreSQL lint: squawk's parser and linter, mapped onto appenv's
//! findings, plus appenv's own rules for what squawk cannot know.
//!
//! squawk's rules that refuse a deploy are listed in [`SQUAWK`] with the
//! appenv id each maps to. Left out on purpose:
//!
//! - the timeout rules (`require-lock-timeout`, `require-statement-timeout`,
//!   `require-timeout-settings`): appenv sets `lock_timeout` and
//!   `statement_timeout` on every migration session;
//! - style rules that do not affect a running release (`prefer-bigint-over-int`,
//!   `prefer-bigint-over-smallint`, `prefer-identity`, `prefer-text-field`,
//!   `prefer-timestamp-tz`, `ban-char-field`, `prefer-robust-stmts`,
//!   `identifier-too-long`, `require-enum-value-ordering`,
//!   `require-table-schema`);
//! - `ban-truncate-cascade` (appenv's `truncate` flags every `TRUNCATE`),
//!   `ban-concurrent-index-creation-in-transaction` (appenv's
//!   `concurrent-index-in-transaction` knows the file's transaction mode,
//!   also for a single-statement file, which squawk lets pass),
//!   `prefer-repack` (PostgreSQL 19+ only; appenv's `vacuum-full` and
//!   `cluster` cover it), `ban-duplicate-column-assignments` (PostgreSQL
//!   itself rejects the statement), `unused-ignore` (squawk's
//!   `-- squawk-ignore` comments are not honoured: `-- appenv:allow` with a
//!   reason is the one way to accept a finding);
//! - squawk's opt-in rules stay off, as in squawk.
//!
//! appenv applies the file's transaction mode itself rather than through
//! squawk's `assume_in_transaction`: with that setting squawk also excuses
//! statements on tables created in the file by their unqualified name only
//! (a new `app.events` would excuse an index on the existing `events`), and
//! lets a single-statement `CREATE INDEX CONCURRENTLY` pass. appenv's own
//! checks cover what the setting adds (`explicit-transaction`,
//! `concurrent-index-in-transaction`, `validate-in-same-transaction`), and
//! objects created in the file are matched with their schema and quoting.
//! The PostgreSQL version squawk assumes is its default (15).

use std::collections::HashSet;

use squawk_linter::{Linter, LinterSettings, Rule as Squawk};
use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{SourceFile, SyntaxKind, SyntaxNode};

use super::{LintFinding, rules, statement_at};
use crate::split::{Split, Statement};

/// squawk's rules appenv runs, and the appenv id of each.
pub(crate) const SQUAWK: &[(Squawk, &str)] = &[
    (Squawk::BanDropTable, rules::DROP_TABLE),
    (Squawk::BanDropColumn, rules::DROP_COLUMN),
    (Squawk::RenamingTable, rules::RENAME_TABLE),
    (Squawk::RenamingColumn, rules::RENAME_COLUMN),
    (Squawk::ChangingColumnType, rules::CHANGE_COLUMN_TYPE),
    (Squawk::AddingNotNullableField, rules::SET_NOT_NULL),
    (Squawk::AddingRequiredField, rules::ADD_NOT_NULL_COLUMN),
    (
        Squawk::RequireConcurrentIndexCreation,
        rules::NON_CONCURRENT_INDEX,
    ),
    (Squawk::TransactionNesting, rules::EXPLICIT_TRANSACTION),
    (
        Squawk::ConstraintMissingNotValid,
        rules::CONSTRAINT_MISSING_NOT_VALID,
    ),
    (
        Squawk::AddingFieldWithDefault,
        rules::ADDING_FIELD_WITH_DEFAULT,
    ),
    (
        Squawk::AddingForeignKeyConstraint,
        rules::ADDING_FOREIGN_KEY_CONSTRAINT,
    ),
    (
        Squawk::AddingSerialPrimaryKeyField,
        rules::ADDING_SERIAL_PRIMARY_KEY_FIELD,
    ),
    (
        Squawk::DisallowedUniqueConstraint,
        rules::DISALLOWED_UNIQUE_CONSTRAINT,
    ),
    (Squawk::BanDropDatabase, rules::BAN_DROP_DATABASE),
    (Squawk::BanDropNotNull, rules::BAN_DROP_NOT_NULL),
    (
        Squawk::BanCreateDomainWithConstraint,
        rules::BAN_CREATE_DOMAIN_WITH_CONSTRAINT,
    ),
    (
        Squawk::BanAlterDomainWithAddConstraint,
        rules::BAN_ALTER_DOMAIN_WITH_ADD_CONSTRAINT,
    ),
    (
        Squawk::BanUncommittedTransaction,
        rules::BAN_UNCOMMITTED_TRANSACTION,
    ),
    (
        Squawk::RequireConcurrentIndexDeletion,
        rules::REQUIRE_CONCURRENT_INDEX_DELETION,
    ),
    (
        Squawk::RequireConcurrentPartitionDetach,
        rules::REQUIRE_CONCURRENT_PARTITION_DETACH,
    ),
    (
        Squawk::RequireConcurrentReindex,
        rules::REQUIRE_CONCURRENT_REINDEX,
    ),
    (Squawk::BanDropView, rules::BAN_DROP_VIEW),
    (Squawk::BanDropFunction, rules::BAN_DROP_FUNCTION),
    (Squawk::BanDropType, rules::BAN_DROP_TYPE),
    (Squawk::BanDropDefault, rules::BAN_DROP_DEFAULT),
    (Squawk::BanDropSchema, rules::BAN_DROP_SCHEMA),
    (Squawk::BanDropSequence, rules::BAN_DROP_SEQUENCE),
    (Squawk::BanDropDomain, rules::BAN_DROP_DOMAIN),
    (Squawk::BanDropConstraint, rules::BAN_DROP_CONSTRAINT),
    (
        Squawk::BanDropGeneratedExpression,
        rules::BAN_DROP_GENERATED_EXPRESSION,
    ),
    (Squawk::RenamingObject, rules::RENAMING_OBJECT),
    (Squawk::BanSetSchema, rules::BAN_SET_SCHEMA),
    (Squawk::BanAlterIdentity, rules::BAN_ALTER_IDENTITY),
    (Squawk::BanDropExtension, rules::BAN_DROP_EXTENSION),
];

/// Rules that still apply to an object created earlier in the same file.
const EVEN_ON_NEW_OBJECTS: &[&str] = &[
    rules::EXPLICIT_TRANSACTION,
    rules::BAN_UNCOMMITTED_TRANSACTION,
    rules::CONCURRENT_INDEX_IN_TRANSACTION,
];

/// squawk reads `-- squawk-ignore …` and
/// `-- squawk-disable-assume-in-transaction` comments; appenv's allows are
/// the only way to accept a finding, so those comments are defused (same
/// length, so squawk's byte ranges stay those of the file).
fn without_squawk_comments(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains("squawk-") {
        std::borrow::Cow::Owned(sql.replace("squawk-", "squawk_"))
    } else {
        std::borrow::Cow::Borrowed(sql)
    }
}

pub(super) fn lint(file: &str, no_transaction: bool, sql: &str, split: &Split) -> Vec<LintFinding> {
    let text = without_squawk_comments(sql);
    let parse = SourceFile::parse(&text);
    let mut findings = Vec::new();

    let mut unreadable = HashSet::new();
    for err in parse.errors() {
        let Some(st) = statement_at(split, usize::from(err.range().start())) else {
            continue;
        };
        if unreadable.insert(st.index) {
            findings.push(LintFinding::on(
                rules::UNPARSEABLE,
                file,
                st,
                format!(
                    "the postgres parser cannot read this statement: {}",
                    err.message()
                ),
            ));
        }
    }

    let mut own = Own {
        file,
        split,
        in_transaction: !no_transaction,
        transactional: !no_transaction,
        created: HashSet::new(),
        not_valid: HashSet::new(),
        free: HashSet::new(),
        findings: Vec::new(),
    };
    for stmt in parse.tree().stmts() {
        own.statement(&stmt);
    }

    let mut linter = Linter::from(SQUAWK.iter().map(|(rule, _)| *rule));
    linter.settings = LinterSettings {
        assume_in_transaction: false,
        ..LinterSettings::default()
    };
    for violation in linter.lint(&parse, &text) {
        let Some(&(_, id)) = SQUAWK.iter().find(|(rule, _)| *rule == violation.code) else {
            continue;
        };
        let start = usize::from(violation.text_range.start());
        let Some(st) = statement_at(split, start) else {
            continue;
        };
        if own.free.contains(&st.index) && !EVEN_ON_NEW_OBJECTS.contains(&id) {
            continue;
        }
        // appenv's `validate-in-same-transaction` reports this one, with
        // names matched by schema and quoting.
        if id == rules::CONSTRAINT_MISSING_NOT_VALID
            && text
                .get(start..start + "validate".len())
                .is_some_and(|w| w.eq_ignore_ascii_case("validate"))
        {
            continue;
        }
        let message = match &violation.help {
            Some(help) => format!("{} ({help})", violation.message.trim_end_matches('.')),
            None => violation.message.clone(),
        };
        findings.push(LintFinding::on(id, file, st, message));
    }
    findings.extend(own.findings);
    findings.sort_by_key(|f| (f.line, f.statement));
    findings
}

/// A name as PostgreSQL resolves it: unquoted parts folded to lowercase,
/// quoted parts kept as written, the schema kept (`app.users` and `users`
/// are different names: the search path is not known here).
fn name_of(node: &SyntaxNode) -> Option<String> {
    let path = node
        .descendants()
        .find(|n| {
            matches!(
                n.kind(),
                SyntaxKind::PATH | SyntaxKind::PATH_REF | SyntaxKind::NAME_REF
            )
        })
        .unwrap_or_else(|| node.clone());
    let mut name = String::new();
    for token in path
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .filter(|t| !t.kind().is_trivia())
    {
        let text = token.text();
        if token.kind() == SyntaxKind::DOT {
            name.push('.');
        } else if let Some(quoted) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            name.push_str(&quoted.replace("\"\"", "\""));
        } else {
            name.push_str(&text.to_lowercase());
        }
    }
    (!name.is_empty()).then_some(name)
}

fn names<N: AstNode>(nodes: impl Iterator<Item = N>) -> Vec<String> {
    nodes.filter_map(|n| name_of(n.syntax())).collect()
}

fn one<N: AstNode>(node: Option<N>) -> Vec<String> {
    names(node.into_iter())
}

/// `true` when the statement carries the keyword (outside nested
/// statements' text: only its own tokens are looked at).
fn has_keyword(node: &SyntaxNode, word: &str) -> bool {
    node.descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .any(|t| !t.kind().is_trivia() && t.text().eq_ignore_ascii_case(word))
}

/// The objects an existing-object rule would be about: the statement is
/// free when every one of them was created earlier in the file.
fn targets(stmt: &ast::Stmt) -> Vec<String> {
    match stmt {
        ast::Stmt::AlterTable(s) => one(s.table_relation_name()),
        ast::Stmt::CreateIndex(s) => one(s.table_relation_name()),
        ast::Stmt::DropTable(s) => names(s.table_name_refs()),
        ast::Stmt::DropIndex(s) => names(s.index_refs()),
        ast::Stmt::DropView(s) => names(s.view_refs()),
        ast::Stmt::DropSequence(s) => names(s.sequence_refs()),
        ast::Stmt::DropType(s) => names(s.type_name_refs()),
        ast::Stmt::DropSchema(s) => names(s.schema_refs()),
        ast::Stmt::Truncate(s) => s
            .table_list()
            .map(|l| names(l.table_relation_names()))
            .unwrap_or_default(),
        ast::Stmt::Vacuum(s) => s
            .table_and_columns_list()
            .map(|l| {
                names(
                    l.table_and_columnss()
                        .filter_map(|t| t.table_relation_name()),
                )
            })
            .unwrap_or_default(),
        ast::Stmt::Cluster(s) => one(s.table_name_ref()),
        ast::Stmt::Lock(s) => s
            .relation_list()
            .map(|l| names(l.relation_names()))
            .unwrap_or_default(),
        ast::Stmt::Update(s) => one(s.relation_name()),
        ast::Stmt::Delete(s) => one(s.relation_name()),
        _ => Vec::new(),
    }
}

/// The objects a statement creates. `CREATE … IF NOT EXISTS` and
/// `CREATE OR REPLACE` create nothing new when the object already exists,
/// so they never make an existing object count as created in this file.
fn creates(stmt: &ast::Stmt) -> Vec<String> {
    let conditional = stmt
        .syntax()
        .children()
        .any(|c| ast::IfNotExists::can_cast(c.kind()) || ast::OrReplace::can_cast(c.kind()));
    if conditional {
        return Vec::new();
    }
    match stmt {
        ast::Stmt::CreateTable(s) => one(s.table_name()),
        ast::Stmt::CreateTableAs(s) => one(s.table_name()),
        ast::Stmt::CreateIndex(s) => one(s.index()),
        ast::Stmt::CreateView(s) => one(s.view()),
        ast::Stmt::CreateMaterializedView(s) => one(s.view()),
        ast::Stmt::CreateSequence(s) => one(s.sequence()),
        ast::Stmt::CreateType(s) => one(s.type_name()),
        ast::Stmt::CreateSchema(s) => one(s.create_schema_target()),
        _ => Vec::new(),
    }
}

/// appenv's own PostgreSQL rules, walking the file in order.
struct Own<'a> {
    file: &'a str,
    split: &'a Split,
    /// Inside a transaction: appenv's (a transactional file) or the file's
    /// own `BEGIN`.
    in_transaction: bool,
    transactional: bool,
    created: HashSet<String>,
    /// `(table, constraint)` added `NOT VALID` in the current transaction.
    not_valid: HashSet<(String, String)>,
    /// Statements whose objects were all created earlier in the file.
    free: HashSet<usize>,
    findings: Vec<LintFinding>,
}

impl Own<'_> {
    fn push(&mut self, rule: &'static str, st: &Statement, message: String) {
        self.findings
            .push(LintFinding::on(rule, self.file, st, message));
    }

    fn statement(&mut self, stmt: &ast::Stmt) {
        let node = stmt.syntax();
        let start = node
            .children_with_tokens()
            .find(|e| !e.kind().is_trivia())
            .map_or(node.text_range().start(), |e| e.text_range().start());
        let Some(st) = statement_at(self.split, usize::from(start)) else {
            return;
        };
        let targets = targets(stmt);
        let free = !targets.is_empty() && targets.iter().all(|t| self.created.contains(t));
        if free {
            self.free.insert(st.index);
        }
        let on = targets.join(", ");
        match stmt {
            ast::Stmt::Begin(_) | ast::Stmt::Commit(_) | ast::Stmt::Rollback(_)
                if self.transactional =>
            {
                self.push(
                    rules::EXPLICIT_TRANSACTION,
                    st,
                    format!("`{}` inside a migration appenv already runs in a transaction (its first line is not `-- appenv:no-transaction`)", st.first_word),
                );
            }
            ast::Stmt::Begin(_) => self.in_transaction = true,
            ast::Stmt::Commit(_) | ast::Stmt::Rollback(_) => {
                self.in_transaction = false;
                self.not_valid.clear();
            }
            ast::Stmt::CreateIndex(s) if s.concurrently_token().is_some() => {
                self.concurrently_in_transaction(st, "CREATE INDEX CONCURRENTLY");
            }
            ast::Stmt::DropIndex(s) if s.concurrently_token().is_some() => {
                self.concurrently_in_transaction(st, "DROP INDEX CONCURRENTLY");
            }
            ast::Stmt::Reindex(s) if has_keyword(s.syntax(), "concurrently") => {
                self.concurrently_in_transaction(st, "REINDEX … CONCURRENTLY");
            }
            ast::Stmt::AlterTable(s) => self.alter_table(s, st, free),
            ast::Stmt::Truncate(_) if !free => self.push(
                rules::TRUNCATE,
                st,
                format!("TRUNCATE {on} deletes every row under an ACCESS EXCLUSIVE lock"),
            ),
            ast::Stmt::Vacuum(s) if !free && (s.full_token().is_some() || has_keyword(s.syntax(), "full")) => {
                self.push(
                    rules::VACUUM_FULL,
                    st,
                    format!("VACUUM FULL {on} rewrites the table under an ACCESS EXCLUSIVE lock").replace("  ", " "),
                );
            }
            ast::Stmt::Cluster(_) if !free => self.push(
                rules::CLUSTER,
                st,
                format!("CLUSTER {on} rewrites the table under an ACCESS EXCLUSIVE lock").replace("  ", " "),
            ),
            ast::Stmt::Lock(_) if !free => self.push(
                rules::LOCK_TABLE,
                st,
                format!("LOCK TABLE {on} holds its lock until the migration's transaction ends; the running release queues behind it"),
            ),
            ast::Stmt::Update(s) if !free && s.where_clause_or_current_of().is_none() => self.push(
                rules::UPDATE_WITHOUT_WHERE,
                st,
                format!("UPDATE {on} without WHERE rewrites every row in one transaction"),
            ),
            ast::Stmt::Delete(s) if !free && s.where_clause_or_current_of().is_none() => self.push(
                rules::DELETE_WITHOUT_WHERE,
                st,
                format!("DELETE FROM {on} without WHERE removes every row the running release reads"),
            ),
            _ => {}
        }
        self.nested_dml(stmt, st);
        self.created.extend(creates(stmt));
    }

    /// `UPDATE`/`DELETE` without `WHERE` nested in another statement (a
    /// data-modifying CTE: `WITH d AS (DELETE FROM users RETURNING *)
    /// SELECT …`) clear or rewrite a table just as the top-level forms do.
    fn nested_dml(&mut self, stmt: &ast::Stmt, st: &Statement) {
        for node in stmt.syntax().descendants().skip(1) {
            let (rule, table, message) = if let Some(d) = ast::Delete::cast(node.clone()) {
                if d.where_clause_or_current_of().is_some() {
                    continue;
                }
                let table = one(d.relation_name());
                let message = format!(
                    "DELETE FROM {} without WHERE (inside another statement) removes every row the running release reads",
                    table.join(", ")
                );
                (rules::DELETE_WITHOUT_WHERE, table, message)
            } else if let Some(u) = ast::Update::cast(node) {
                if u.where_clause_or_current_of().is_some() {
                    continue;
                }
                let table = one(u.relation_name());
                let message = format!(
                    "UPDATE {} without WHERE (inside another statement) rewrites every row in one transaction",
                    table.join(", ")
                );
                (rules::UPDATE_WITHOUT_WHERE, table, message)
            } else {
                continue;
            };
            if table.iter().all(|t| self.created.contains(t)) && !table.is_empty() {
                continue;
            }
            self.push(rule, st, message);
        }
    }

    fn concurrently_in_transaction(&mut self, st: &Statement, what: &str) {
        if self.in_transaction {
            let why = if self.transactional {
                "appenv runs this migration in a transaction (its first line is not `-- appenv:no-transaction`)"
            } else {
                "it follows the file's own BEGIN"
            };
            self.push(
                rules::CONCURRENT_INDEX_IN_TRANSACTION,
                st,
                format!("{what} cannot run inside a transaction block, and {why}"),
            );
        }
    }

    fn alter_table(&mut self, s: &ast::AlterTable, st: &Statement, free: bool) {
        let Some(table) = one(s.table_relation_name()).pop() else {
            return;
        };
        for action in s.actions() {
            match action {
                ast::AlterTableAction::AddConstraint(add) => {
                    if let Some(c) = add.constraint()
                        && c.is_not_valid()
                        && let Some(name) = c.constraint_name().and_then(|n| name_of(n.syntax()))
                    {
                        self.not_valid.insert((table.clone(), name));
                    }
                }
                ast::AlterTableAction::ValidateConstraint(v) => {
                    let Some(name) = v.constraint_name_ref().and_then(|n| name_of(n.syntax()))
                    else {
                        continue;
                    };
                    if self.in_transaction
                        && !free
                        && self.not_valid.contains(&(table.clone(), name.clone()))
                    {
                        self.push(
                            rules::VALIDATE_IN_SAME_TRANSACTION,
                            st,
                            format!("VALIDATE CONSTRAINT {name} on {table} runs in the transaction that added it NOT VALID, which still holds the add's ACCESS EXCLUSIVE lock while the table is scanned"),
                        );
                    }
                }
                ast::AlterTableAction::TableRenameTo(r) if free => {
                    let qualifier = table.rsplit_once('.').map(|(schema, _)| schema);
                    if let Some(new) = one(r.table_name()).pop() {
                        match qualifier {
                            Some(schema) if !new.contains('.') => {
                                self.created.insert(format!("{schema}.{new}"));
                            }
                            _ => {
                                self.created.insert(new);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
