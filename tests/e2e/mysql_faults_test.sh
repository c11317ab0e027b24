#!/usr/bin/env bash
# MySQL statement-level faults (a proxy with "protocol": "mysql") against a real MariaDB (InnoDB),
# through the real command-line client (mariadb/mysql, one session per invocation, statements read
# from a here-doc with --force so the session goes on after an error), a real driver that uses
# server-side prepared statements (Perl DBI + DBD::MariaDB with mariadb_server_prepare=1:
# COM_STMT_PREPARE / COM_STMT_EXECUTE through libmariadb), and a few raw socket reads (python3):
#
#   1. baseline: SELECT 1 through the proxy; CREATE TABLE / INSERT / SELECT (and the rows are
#      really in MariaDB); a 17 MB row each way (packets split at 16 MB); prepared statements;
#   2. mysql_error deadlock (kind = update, first = 1): in one session the UPDATE fails with
#      "ERROR 1213 (40001) ... Deadlock found when trying to get lock; try restarting
#      transaction", the next SELECT works and the next UPDATE (past first) runs; inside
#      BEGIN..COMMIT (statement regex, case-insensitive): the server's transaction is rolled
#      back as by a real deadlock: @@in_transaction is 0, information_schema.innodb_trx is empty
#      while the client is still connected (asked directly from inside the session with \!), and
#      a row updated earlier in the transaction is unchanged after the client's COMMIT.
#      lock_wait_timeout (1205) rolls back nothing (InnoDB's default: only the statement);
#   3. every preset (lock_wait_timeout, read_only, server_shutdown, query_timeout) and a custom
#      code/sqlstate/message as the client prints them; every = 3; kind as a list;
#   4. mysql_error too_many_connections: a new connection fails with 1040 "Too many
#      connections" (the client's own wording with its default --ssl, and with --skip-ssl); on
#      the wire: an ERR with sequence id 0 instead of the greeting, then the close;
#   5. mysql_delay 300ms on a statement regex (added with `brownout fault add`): the matching
#      statement takes >= 300 ms (mysql -vvv's timing), the others stay fast; the same on a
#      prepared statement's EXECUTE;
#   6. prepared statements: EXECUTE of a statement whose PREPARE text matches gets the injected
#      1213 (the PREPARE itself works), the session goes on, the transaction is rolled back;
#      SQL-level PREPARE/EXECUTE (COM_QUERY: matched by the text "EXECUTE s", not by the
#      prepared SQL);
#   7. probability 0.5 on SELECT 1 over 100 statements in one session, interleaved with 100
#      non-matching ones: 25..75 errors, only on matching lines, and every other answer is the
#      right one, in order (no desynchronisation);
#   8. at the end: no transaction left open, no server session left from the proxy.
#
# Usage: bash tests/e2e/mysql_faults_test.sh /path/to/brownout
# Needs MariaDB's server and client and Perl's DBD::MariaDB (Debian: mariadb-server,
# mariadb-client, libdbd-mariadb-perl); missing is a failure.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/mysql.sh
source "$(dirname "${BASH_SOURCE[0]}")/mysql.sh"
e2e_init mysql_faults

BIN=${1:?usage: $0 /path/to/brownout}
for tool in curl jq python3 timeout perl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[[ -x "$BIN" ]] || die "brownout binary not found or not executable: $BIN"
perl -MDBI -MDBD::MariaDB -MJSON::PP -MTime::HiRes -e 1 2>/dev/null ||
  die "Perl DBI with DBD::MariaDB is required (Debian: libdbd-mariadb-perl)"
# The interpreter itself, not a version manager's shim (pyenv's costs ~0.5 s a start).
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=""
[[ -x "$PY" ]] || die "python3 does not run"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
unset BROWNOUT_SERVER MYSQL_HOST MYSQL_TCP_PORT MYSQL_PWD MYSQL_UNIX_PORT MYSQL_TEST_LOGIN_FILE
DIR=$(e2e_mktemp_dir)

start_mysql
start_brownout "$BIN"

# ---------------------------------------------------------------------------------------------
# Helpers

check() { # check LABEL CONDITION-RESULT(0/1) DETAIL
  if (($2 == 0)); then pass "$1"; else fail "$1: $3"; fi
}

# direct SQL: values (-N -B) straight from MariaDB, not through the proxy, in database shop.
direct() { mysql_client "$MYSQL_PORT" -N -B shop -e "$1" 2>&1 </dev/null; }

# mq ARGS... <<<SQL: the client through the proxy (bounded), statements on stdin. MQ_OUT,
# MQ_ERR (the client's error lines only: "ERROR ..."), MQ_ERRALL (all of stderr), MQ_RC.
mq() {
  mysql_client "$PROXY_PORT" "$@" >"$DIR/mq.out" 2>"$DIR/mq.err"
  MQ_RC=$?
  MQ_OUT=$(<"$DIR/mq.out")
  MQ_ERRALL=$(<"$DIR/mq.err")
  MQ_ERR=$(grep '^ERROR' "$DIR/mq.err")
}
mq_show() { echo "exit $MQ_RC; stdout $(_show "$MQ_OUT"); stderr $(_show "$MQ_ERR")"; }

# add_fault JSON: (re)creates the toxic named in JSON on proxy my (its counters start at 0).
add_fault() {
  local name
  name=$(jq -r .name <<<"$1")
  api DELETE "/proxies/my/toxics/$name"
  api POST /proxies/my/toxics "$1"
  if [[ "$RESP_STATUS" == 200 ]]; then
    pass "POST toxic $name ($(jq -c '{type, probability} + .attributes | with_entries(select(.value != null))' <<<"$1"))"
  else
    fail "POST toxic $name: status $RESP_STATUS body $(_show "$RESP_BODY") for $1"
  fi
}
del_fault() {
  api DELETE "/proxies/my/toxics/$1"
  [[ "$RESP_STATUS" == 204 ]] || fail "DELETE toxic $1: status $RESP_STATUS body $(_show "$RESP_BODY")"
}

# A DBI client with server-side prepared statements. ps.pl PORT DIRECT_PORT STEPS_JSON prints a
# JSON report {"connect": RESULT, "steps": [RESULT]}; RESULT = {err: native code or null,
# state: SQLSTATE, msg, rows: [[...]] (statements that return rows), rv, ms}. A step is one of
#   {"prepare": NAME, "sql": SQL}        prepare through the proxy (COM_STMT_PREPARE)
#   {"execute": NAME, "args": [...]}     execute it (COM_STMT_EXECUTE), fetch its rows if any
#   {"begin": 1} / {"commit": 1}         DBI begin_work (autocommit off) / commit
#   {"direct": SQL}                      SQL on a new connection straight to MariaDB (text
#                                        protocol), while the proxied one stays open
cat >"$DIR/ps.pl" <<'EOF'
use strict; use warnings;
use DBI; use JSON::PP; use Time::HiRes qw(time);
my ($port, $direct_port, $steps_json) = @ARGV;
my $steps = JSON::PP->new->decode($steps_json);
sub dsn { my ($p, $ps) = @_; return "DBI:MariaDB:database=shop;host=127.0.0.1;port=$p;mariadb_server_prepare=$ps;mariadb_connect_timeout=5;mariadb_read_timeout=20"; }
# Every value as a string (the binary protocol hands back numbers), NULL as null.
sub strs { my ($rows) = @_; return undef unless $rows; return [ map { [ map { defined $_ ? "$_" : undef } @$_ ] } @$rows ]; }
sub result {
  my ($h, $t0, %extra) = @_;
  my $r = { err => (defined $h && defined $h->err && $h->err ne '' ? 0 + $h->err : undef),
            state => (defined $h ? ($h->state // '') : ''), msg => (defined $h ? ($h->errstr // '') : ''),
            ms => sprintf("%.1f", (time() - $t0) * 1000) + 0, %extra };
  return $r;
}
my %opt = (RaiseError => 0, PrintError => 0, AutoCommit => 1);
my $t0 = time();
my $dbh = DBI->connect(dsn($port, 1), "root", "", \%opt);
my %report = (connect => { err => ($dbh ? undef : 0 + ($DBI::err // -1)), msg => ($dbh ? '' : $DBI::errstr // ''), ms => sprintf("%.1f", (time() - $t0) * 1000) + 0 }, steps => []);
my %sth;
for my $st (@$steps) {
  my $t = time();
  if (exists $st->{direct}) {
    my $d = DBI->connect(dsn($direct_port, 0), "root", "", \%opt);
    my $rows = $d ? strs($d->selectall_arrayref($st->{direct})) : undef;
    push @{$report{steps}}, result($d, $t, rows => $rows);
    $d->disconnect if $d;
    next;
  }
  if (!$dbh) { push @{$report{steps}}, { err => -1, msg => 'not connected' }; next; }
  if (exists $st->{prepare}) {
    my $s = $dbh->prepare($st->{sql});
    $sth{$st->{prepare}} = $s if $s;
    push @{$report{steps}}, result($s ? $s : $dbh, $t, ok => ($s ? JSON::PP::true : JSON::PP::false));
  } elsif (exists $st->{execute}) {
    my $s = $sth{$st->{execute}};
    if (!$s) { push @{$report{steps}}, { err => -1, msg => 'no such statement' }; next; }
    my $rv = $s->execute(@{$st->{args} // []});
    my $rows;
    $rows = strs($s->fetchall_arrayref) if defined $rv && $s->{NUM_OF_FIELDS};
    push @{$report{steps}}, result($s, $t, rv => (defined $rv ? "$rv" : undef), rows => $rows);
  } elsif (exists $st->{begin}) {
    $dbh->begin_work;
    push @{$report{steps}}, result($dbh, $t);
  } elsif (exists $st->{commit}) {
    $dbh->commit;
    push @{$report{steps}}, result($dbh, $t);
  }
}
$_->finish for grep { $_->{Active} } values %sth;
%sth = ();
$dbh->disconnect if $dbh;
print JSON::PP->new->canonical->encode(\%report), "\n";
EOF

# psc STEPS_JSON: runs ps.pl through the proxy; the report in PSC (JSON, or {"crash": "..."}).
psc() {
  if PSC=$(timeout -k 2 40 perl "$DIR/ps.pl" "$PROXY_PORT" "$MYSQL_PORT" "$1" 2>"$DIR/psc.err" </dev/null); then
    :
  else
    PSC=$(jq -cn --arg e "$(<"$DIR/psc.err")" --arg o "$PSC" '{crash: $e, out: $o}')
  fi
}
psc_is() { # psc_is LABEL JQ: the report satisfies JQ.
  if jq -e "$2" >/dev/null 2>&1 <<<"$PSC"; then
    pass "$1"
  else
    fail "$1: jq '$2' not true for $PSC"
  fi
}

# status_var NAME: a global status counter of MariaDB, asked directly.
status_var() { direct "SHOW GLOBAL STATUS LIKE '$1'" | awk '{print $2}'; }

# The client's own line for an error at line L: "ERROR CODE (STATE) at line L: MESSAGE".
err_line() { printf 'ERROR %s (%s) at line %s: %s' "$1" "$2" "$3" "$4"; }
DEADLOCK_MSG="Deadlock found when trying to get lock; try restarting transaction"
LOCKWAIT_MSG="Lock wait timeout exceeded; try restarting transaction"

# ---------------------------------------------------------------------------------------------
# The proxy

api POST /proxies "{\"name\":\"my\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:$MYSQL_PORT\",\"protocol\":\"mysql\"}"
expect_status "POST /proxies my (protocol mysql) -> 127.0.0.1:$MYSQL_PORT" 201
expect_jq "the proxy as created says protocol mysql" '.protocol == "mysql"'
PROXY_PORT=$(jq -r '.listen // empty' <<<"$RESP_BODY" 2>/dev/null)
PROXY_PORT=${PROXY_PORT##*:}
[[ "$PROXY_PORT" =~ ^[0-9]+$ && "$PROXY_PORT" != 0 ]] || die "no listen port in $RESP_BODY"
note "proxy my listens on 127.0.0.1:$PROXY_PORT"
# (Not piped into grep -q: with pipefail, brownout would die of SIGPIPE when grep stops early.)
TYPES=$("$BIN" fault types 2>/dev/null)
grep -q mysql_error <<<"$TYPES" || die "$BIN fault types lists no mysql_error: the mysql faults are not in this build"

# ---------------------------------------------------------------------------------------------
echo "== 1. baseline, no fault [${SECONDS}s]"

MYSQL_CLIENT_VERSION=$("$MYSQL_CLIENT" --no-defaults --version 2>&1)
note "client: $MYSQL_CLIENT_VERSION"
mq -N -B -e 'select 1' </dev/null
check "$(basename "$MYSQL_CLIENT") -h 127.0.0.1 -P PROXY -u root -e 'select 1' returns 1" \
  "$([[ $MQ_RC == 0 && "$MQ_OUT" == 1 ]]; echo $?)" "$(mq_show) $(_show "$MQ_ERRALL")"

mq -N -B <<'SQL'
CREATE DATABASE shop;
USE shop;
CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40)) ENGINE=InnoDB;
INSERT INTO items VALUES (1, 'alpha'), (2, 'beta'), (3, NULL);
SELECT id, COALESCE(name, 'null') FROM items ORDER BY id;
SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'items';
SQL
check "through the proxy: CREATE DATABASE/TABLE, INSERT 3 rows, SELECT them back (InnoDB)" \
  "$([[ $MQ_RC == 0 && "$MQ_OUT" == $'1\talpha\n2\tbeta\n3\tnull\nInnoDB' ]]; echo $?)" "$(mq_show)"
rows=$(direct 'SELECT GROUP_CONCAT(id ORDER BY id) FROM items')
check "the rows are in MariaDB (read directly): 1,2,3" "$([[ "$rows" == 1,2,3 ]]; echo $?)" "got $(_show "$rows")"

# Packets of 16 MB and more are split (0xFFFFFF chunks): a 17 MB row down, a 17 MB value up.
mq -N -B --max-allowed-packet=64M shop -e "SELECT REPEAT('x', 17000000) AS big, 'tail'" </dev/null
big_len=$(head -n 1 "$DIR/mq.out" | cut -f 1 | tr -d '\n' | wc -c)
check "a 17 MB row through the proxy (server -> client, split packets): 17000000 bytes and the next column" \
  "$([[ $MQ_RC == 0 && "$big_len" == 17000000 && "$(head -n 1 "$DIR/mq.out" | cut -f 2)" == tail ]]; echo $?)" \
  "exit $MQ_RC, length $big_len, stderr $(_show "$MQ_ERRALL")"
direct 'CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB' >/dev/null
{
  printf "INSERT INTO blobs VALUES (1, '"
  head -c 17000000 /dev/zero | tr '\0' 'y'
  printf "');\nSELECT 'after big insert';\n"
} >"$DIR/big.sql"
mq -N -B --max-allowed-packet=64M shop <"$DIR/big.sql"
blen=$(direct 'SELECT LENGTH(b) FROM blobs WHERE id = 1')
check "a 17 MB INSERT through the proxy (client -> server, split packets): stored whole, the session goes on" \
  "$([[ $MQ_RC == 0 && "$blen" == 17000000 && "$MQ_OUT" == "after big insert" ]]; echo $?)" "$(mq_show), stored length $blen"
rm -f "$DIR/big.sql"

prep_before=$(status_var Com_stmt_prepare)
psc '[{"prepare":"q","sql":"SELECT name FROM items WHERE id = ?"},{"execute":"q","args":[2]},{"execute":"q","args":[1]}]'
prep_after=$(status_var Com_stmt_prepare)
psc_is "DBD::MariaDB server-side prepared statement through the proxy: prepare, execute twice" \
  '.connect.err == null and .steps[0].ok and .steps[1].rows == [["beta"]] and .steps[2].rows == [["alpha"]]'
check "the driver really prepared on the server (Com_stmt_prepare $prep_before -> $prep_after)" \
  "$([[ "$prep_before" =~ ^[0-9]+$ && "$prep_after" =~ ^[0-9]+$ && $prep_after -gt $prep_before ]]; echo $?)" "before $prep_before, after $prep_after"

# ---------------------------------------------------------------------------------------------
echo "== 2. mysql_error deadlock [${SECONDS}s]"

direct 'CREATE TABLE acct (id INT PRIMARY KEY, balance INT) ENGINE=InnoDB; INSERT INTO acct VALUES (1, 100), (2, 100)' >/dev/null
add_fault '{"name":"dl","type":"mysql_error","attributes":{"error":"deadlock","first":1,"match":{"kind":"update"}}}'
mq -N -B --force shop <<'SQL'
SELECT 'start';
UPDATE acct SET balance = balance + 1 WHERE id = 2;
SELECT balance FROM acct WHERE id = 2;
UPDATE acct SET balance = balance + 1 WHERE id = 2;
SELECT balance FROM acct WHERE id = 2;
SQL
check "kind = update, first = 1: the first UPDATE fails: '$(err_line 1213 40001 2 "$DEADLOCK_MSG")', and only it" \
  "$([[ "$MQ_ERR" == "$(err_line 1213 40001 2 "$DEADLOCK_MSG")" ]]; echo $?)" "$(mq_show)"
check "same session: the SELECT after it answers (100: the UPDATE did not run), the next UPDATE runs (101)" \
  "$([[ "$MQ_OUT" == $'start\n100\n101' ]]; echo $?)" "$(mq_show)"
bal=$(direct 'SELECT balance FROM acct WHERE id = 2')
check "MariaDB has balance 101 for id 2 (one UPDATE ran)" "$([[ "$bal" == 101 ]]; echo $?)" "balance $bal"

# Inside a transaction. From inside the session (\! runs a shell while the client stays
# connected), MariaDB is asked directly: how many InnoDB transactions are open, whether the
# client's session is there, and whether row 1 (updated earlier in the transaction) is still
# locked (SELECT ... FOR UPDATE NOWAIT: 1205 while a transaction holds it). INNODB_TRX is a cache
# that InnoDB refreshes only once nobody has read it for 100 ms: the probe waits 200 ms first.
# (A script: the client would split a ';' inside the \! line into statements.)
cat >"$DIR/probe.sh" <<PROBE
sleep 0.2
timeout -k 1 10 '$MYSQL_CLIENT' --no-defaults -h 127.0.0.1 -P $MYSQL_PORT -u root -N -B \\
  -e "SELECT COUNT(*) FROM information_schema.INNODB_TRX; SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = 'shop' AND ID <> CONNECTION_ID()"
timeout -k 1 10 '$MYSQL_CLIENT' --no-defaults -h 127.0.0.1 -P $MYSQL_PORT -u root -N -B shop \\
  -e "SELECT balance FROM acct WHERE id = 1 FOR UPDATE NOWAIT" 2>&1 | sed -n 's/^ERROR \\([0-9]*\\).*/locked:\\1/p; /^[0-9]/p'
PROBE
add_fault '{"name":"dl","type":"mysql_error","attributes":{"error":"deadlock","first":1,"match":{"statement":"deadlock_marker","kind":["update","delete"]}}}'
mq -N -B --force shop <<SQL
BEGIN;
UPDATE acct SET balance = balance + 10 WHERE id = 1;
SELECT 'in trx', @@in_transaction, balance FROM acct WHERE id = 1;
\\! bash '$DIR/probe.sh' > '$DIR/trx.before' 2>&1
UPDATE acct SET balance = balance + 10 WHERE id = 2 AND 'DEADLOCK_MARKER' <> '';
\\! bash '$DIR/probe.sh' > '$DIR/trx.after' 2>&1
SELECT 'after error', @@in_transaction, balance FROM acct WHERE id = 1;
COMMIT;
SELECT 'after commit', balance FROM acct WHERE id = 1;
SQL
trx_before=$(tr '\n' ' ' <"$DIR/trx.before" 2>/dev/null)
trx_after=$(tr '\n' ' ' <"$DIR/trx.after" 2>/dev/null)
note "direct probe inside the session (innodb_trx, client sessions in shop, row 1): before the faulted UPDATE: $trx_before; after: $trx_after"
check "in BEGIN..COMMIT, statement regex (case-insensitive) + kind list: the marked UPDATE gets $(err_line 1213 40001 5 "$DEADLOCK_MSG")" \
  "$([[ "$MQ_ERR" == "$(err_line 1213 40001 5 "$DEADLOCK_MSG")" ]]; echo $?)" "$(mq_show)"
check "before the fault the probe saw the transaction open (innodb_trx 1, the client's session there, row 1 locked: 1205)" \
  "$([[ "$trx_before" == "1 1 locked:1205 " ]]; echo $?)" "probe: $(_show "$trx_before")"
check "after the fault, while the client is still connected, MariaDB has no open transaction (innodb_trx empty, row 1 unlocked and 100), the session is still there" \
  "$([[ "$trx_after" == "0 1 100 " ]]; echo $?)" "probe: $(_show "$trx_after")"
check "the session sees what a real deadlock leaves: @@in_transaction 0, the earlier UPDATE undone (balance 100), COMMIT commits nothing" \
  "$([[ "$MQ_OUT" == $'in trx\t1\t110\nafter error\t0\t100\nafter commit\t100' ]]; echo $?)" "$(mq_show)"
bals=$(direct 'SELECT GROUP_CONCAT(balance ORDER BY id) FROM acct')
check "MariaDB after the client's COMMIT: balances unchanged (100,101)" "$([[ "$bals" == 100,101 ]]; echo $?)" "balances $bals"

# lock_wait_timeout: InnoDB (innodb_rollback_on_timeout=OFF, the default) rolls back only the
# statement, so the transaction must stay open and the earlier UPDATE commit.
add_fault '{"name":"dl","type":"mysql_error","attributes":{"error":"lock_wait_timeout","match":{"statement":"lockwait_marker"}}}'
mq -N -B --force shop <<'SQL'
BEGIN;
UPDATE acct SET balance = balance + 5 WHERE id = 1;
UPDATE acct SET balance = balance + 5 WHERE id = 2 AND 'lockwait_marker' <> '';
SELECT 'after error', @@in_transaction, balance FROM acct WHERE id = 1;
COMMIT;
SQL
bals=$(direct 'SELECT GROUP_CONCAT(balance ORDER BY id) FROM acct')
check "lock_wait_timeout in a transaction: $(err_line 1205 HY000 3 "$LOCKWAIT_MSG"), the transaction stays open (@@in_transaction 1), the earlier UPDATE commits (105,101)" \
  "$([[ "$MQ_ERR" == "$(err_line 1205 HY000 3 "$LOCKWAIT_MSG")" && "$MQ_OUT" == $'after error\t1\t105' && "$bals" == 105,101 ]]; echo $?)" "$(mq_show); balances $bals"
del_fault dl

# ---------------------------------------------------------------------------------------------
echo "== 3. presets, custom errors, every, kind [${SECONDS}s]"

preset_check() { # preset_check ERROR_NAME CODE SQLSTATE MESSAGE_GLOB
  add_fault "{\"name\":\"preset\",\"type\":\"mysql_error\",\"attributes\":{\"error\":\"$1\",\"match\":{\"statement\":\"preset_marker\"}}}"
  mq -N -B --force shop <<'SQL'
SELECT 'preset_marker';
SELECT 'next';
SQL
  # shellcheck disable=SC2053 # $4 is a glob
  check "preset $1: 'ERROR $2 ($3) at line 1: $4'; the session goes on" \
    "$([[ "$MQ_ERR" == "ERROR $2 ($3) at line 1: "$4 && "$MQ_OUT" == next ]]; echo $?)" "$(mq_show)"
}
preset_check lock_wait_timeout 1205 HY000 "$LOCKWAIT_MSG"
preset_check read_only 1290 HY000 "The M* server is running with the --read-only option so it cannot execute this statement"
preset_check server_shutdown 1053 08S01 "Server shutdown in progress"
preset_check query_timeout 3024 HY000 "Query execution was interrupted*"
preset_check deadlock 1213 40001 "$DEADLOCK_MSG"
add_fault '{"name":"preset","type":"mysql_error","attributes":{"code":1105,"sqlstate":"HY000","message":"boom from brownout","match":{"statement":"preset_marker"}}}'
mq -N -B --force shop <<'SQL'
SELECT 'preset_marker';
SELECT 'next';
SQL
check "custom code 1105, sqlstate HY000, message: 'ERROR 1105 (HY000) at line 1: boom from brownout'" \
  "$([[ "$MQ_ERR" == "ERROR 1105 (HY000) at line 1: boom from brownout" && "$MQ_OUT" == next ]]; echo $?)" "$(mq_show)"

add_fault '{"name":"preset","type":"mysql_error","attributes":{"error":"lock_wait_timeout","every":3,"match":{"statement":"every_marker"}}}'
for ((i = 1; i <= 9; i++)); do echo "SELECT $i AS every_marker;"; done >"$DIR/every.sql"
echo "SELECT 0 AS other;" >>"$DIR/every.sql"
mq -N -B --force shop <"$DIR/every.sql"
mapfile -t every_lines < <(sed -n 's/^ERROR 1205 (HY000) at line \([0-9]*\): .*/\1/p' <<<"$MQ_ERR")
ok_rows=$(tr '\n' ' ' <<<"$MQ_OUT")
check "every = 3: 3 of 9 matching statements fail with 1205, 3 apart; the other 6 and a non-matching one answer" \
  "$([[ ${#every_lines[@]} == 3 && $((every_lines[1] - every_lines[0])) == 3 && $((every_lines[2] - every_lines[1])) == 3 &&
    $(wc -l <<<"$MQ_OUT") == 7 && "$MQ_OUT" == *$'\n0' ]]; echo $?)" "error lines ${every_lines[*]:-none}, rows $ok_rows, $(mq_show)"

add_fault '{"name":"preset","type":"mysql_error","attributes":{"error":"read_only","match":{"kind":["insert","delete"]}}}'
mq -N -B --force shop <<'SQL'
INSERT INTO items VALUES (10, 'kind');
SELECT COUNT(*) FROM items;
UPDATE items SET name = 'upd' WHERE id = 3;
DELETE FROM items WHERE id = 1;
SELECT GROUP_CONCAT(COALESCE(name, 'null') ORDER BY id) FROM items;
SQL
check "kind = [insert, delete]: INSERT and DELETE get 1290, SELECT and UPDATE run" \
  "$([[ $(grep -c '^ERROR 1290 (HY000) at line [14]:' <<<"$MQ_ERR") == 2 && $(wc -l <<<"$MQ_ERR") == 2 && "$MQ_OUT" == $'3\nalpha,beta,upd' ]]; echo $?)" "$(mq_show)"
del_fault preset

# ---------------------------------------------------------------------------------------------
echo "== 4. too_many_connections [${SECONDS}s]"

conns_before=$(status_var Connections)
add_fault '{"name":"tmc","type":"mysql_error","attributes":{"error":"too_many_connections"}}'
mq -N -B -e 'SELECT 1' </dev/null
# With --ssl (the client's default) libmariadb refuses to trust an ERR before TLS and wraps it:
# "ERROR 2002 (HY000): Received error packet before completion of TLS handshake. The
# authenticity of the following error cannot be verified: 1040 - Too many connections".
check "default client (--ssl on): the connection fails with 1040 'Too many connections'" \
  "$([[ $MQ_RC == 1 && "$MQ_OUT" != 1 && ("$MQ_ERR" == *"1040 - Too many connections"* || "$MQ_ERR" == "ERROR 1040 ("*"): Too many connections") ]]; echo $?)" "$(mq_show)"
note "default client says: $MQ_ERR"
mq --skip-ssl -N -B -e 'SELECT 1' </dev/null
check "client --skip-ssl: 'ERROR 1040 (HY000): Too many connections' (a pre-greeting ERR has no SQLSTATE)" \
  "$([[ $MQ_RC == 1 && "$MQ_ERR" == "ERROR 1040 (HY000): Too many connections" ]]; echo $?)" "$(mq_show)"
psc '[]'
psc_is "DBD::MariaDB: connect fails with 1040" '.connect.err == 1040 and (.connect.msg | test("Too many connections"))'
# On the wire: the first packet, then the end of the stream.
raw=$(timeout -k 1 10 "$PY" - "$PROXY_PORT" <<'EOF' 2>&1
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
buf, t0 = b"", time.monotonic()
while True:
    try:
        d = s.recv(65536)
    except OSError as e:
        print("recv error", e); break
    if not d:
        break
    buf += d
n = int.from_bytes(buf[0:3], "little") if len(buf) >= 4 else -1
print("len=%d seq=%d payload=%s total=%d eof_ms=%d" % (n, buf[3] if len(buf) >= 4 else -1, buf[4:4 + n].hex() if n >= 0 else "", len(buf), (time.monotonic() - t0) * 1000))
EOF
)
want_payload=$(printf '\xff\x10\x04Too many connections' | od -An -tx1 | tr -d ' \n')
note "raw: $raw"
check "on the wire: one ERR packet, seq 0, FF 10 04 'Too many connections' (no #SQLSTATE, as mysqld sends before the greeting), then the close" \
  "$([[ "$raw" == "len=23 seq=0 payload=$want_payload total=27 "* ]]; echo $?)" "$raw (want payload $want_payload)"
del_fault tmc
mq -N -B -e 'SELECT 1' </dev/null
check "after DELETE tmc: a connection works again" "$([[ $MQ_RC == 0 && "$MQ_OUT" == 1 ]]; echo $?)" "$(mq_show)"
conns_after=$(status_var Connections)
note "MariaDB Connections counter: $conns_before before the refusals, $conns_after after (including the probes of this test)"

# ---------------------------------------------------------------------------------------------
echo "== 5. mysql_delay 300ms [${SECONDS}s]"

timeout -k 2 15 "$BIN" -s "$API" fault add my mysql_delay --name slow --set delay=300ms --match statement='slow_marker' >"$DIR/cli.out" 2>&1
rc=$?
check "brownout fault add my mysql_delay --set delay=300ms --match statement=slow_marker: exit 0" "$rc" "exit $rc: $(<"$DIR/cli.out")"
api GET /proxies/my/toxics/slow
expect_jq "GET the toxic: mysql_delay, delay 300 ms, match statement slow_marker" \
  '.type == "mysql_delay" and (.attributes.delay == 300 or .attributes.delay == "300ms") and .attributes.match.statement == "slow_marker"'
if [[ "$RESP_STATUS" != 200 ]]; then
  note "the CLI did not add the fault: adding it through the API, to check the delay itself"
  add_fault '{"name":"slow","type":"mysql_delay","attributes":{"delay":"300ms","match":{"statement":"slow_marker"}}}'
fi
mq -vvv -N --force shop <<'SQL'
SELECT 1 AS fast_before;
SELECT 'SLOW_MARKER' AS s;
SELECT 2 AS fast_after;
SQL
mapfile -t secs < <(sed -n 's/.*row.* in set (\([0-9.]*\) sec)$/\1/p' "$DIR/mq.out")
note "mysql -vvv timings: ${secs[*]:-none} s"
if ((${#secs[@]} == 3)) && [[ $MQ_RC == 0 ]]; then
  check "a matching statement (regex, case-insensitive) takes >= 0.300 s (${secs[1]} s) and < 1.5 s" \
    "$(float_ge "${secs[1]}" 0.3 && float_lt "${secs[1]}" 1.5; echo $?)" "$(mq_show)"
  check "non-matching statements stay fast: ${secs[0]} s, ${secs[2]} s < 0.1 s" \
    "$(float_lt "${secs[0]}" 0.1 && float_lt "${secs[2]}" 0.1; echo $?)" "$(mq_show)"
else
  fail "mysql -vvv: expected 3 timings, got ${#secs[@]}: $(mq_show)"
fi
psc '[{"prepare":"s","sql":"SELECT ? AS slow_marker"},{"prepare":"f","sql":"SELECT ? AS fast"},{"execute":"f","args":[1]},{"execute":"s","args":[2]},{"execute":"f","args":[3]}]'
note "prepared: prepare slow $(jq -r '.steps[0].ms' <<<"$PSC") ms, execute fast $(jq -r '.steps[2].ms' <<<"$PSC") ms, slow $(jq -r '.steps[3].ms' <<<"$PSC") ms, fast $(jq -r '.steps[4].ms' <<<"$PSC") ms"
psc_is "prepared statements: EXECUTE of the matching statement takes >= 300 ms (< 1500), the others < 100 ms, all answered" \
  '.steps[3].ms >= 300 and .steps[3].ms < 1500 and .steps[2].ms < 100 and .steps[4].ms < 100 and .steps[2].rows == [["1"]] and .steps[3].rows == [["2"]] and .steps[4].rows == [["3"]]'
del_fault slow

# ---------------------------------------------------------------------------------------------
echo "== 6. prepared statements [${SECONDS}s]"

direct 'UPDATE acct SET balance = 100' >/dev/null
add_fault '{"name":"ps","type":"mysql_error","attributes":{"error":"deadlock","match":{"statement":"ps_marker"}}}'
exec_before=$(status_var Com_stmt_execute)
psc '[{"prepare":"up","sql":"UPDATE acct SET balance = balance + ? WHERE id = ? AND '"'PS_MARKER'"' <> '"''"'"},
  {"prepare":"peek","sql":"SELECT balance, @@in_transaction FROM acct WHERE id = ?"},
  {"prepare":"plain","sql":"UPDATE acct SET balance = balance + ? WHERE id = ?"},
  {"execute":"up","args":[1,2]},
  {"execute":"peek","args":[2]},
  {"begin":1},
  {"execute":"plain","args":[7,1]},
  {"execute":"peek","args":[1]},
  {"execute":"up","args":[1,2]},
  {"direct":"SELECT COUNT(*) FROM information_schema.INNODB_TRX"},
  {"direct":"SELECT balance FROM acct WHERE id = 1 FOR UPDATE NOWAIT"},
  {"execute":"peek","args":[1]},
  {"commit":1},
  {"direct":"SELECT GROUP_CONCAT(balance ORDER BY id) FROM acct"}]'
exec_after=$(status_var Com_stmt_execute)
psc_is "COM_STMT_PREPARE of the matching UPDATE works (the fault acts on EXECUTE)" '.connect.err == null and .steps[0].ok and .steps[0].err == null'
psc_is "COM_STMT_EXECUTE of it: 1213 (40001) '$DEADLOCK_MSG'" \
  ".steps[3].err == 1213 and .steps[3].state == \"40001\" and (.steps[3].msg | contains(\"$DEADLOCK_MSG\"))"
psc_is "the next prepared SELECT on the connection answers: balance 100 (the UPDATE did not run)" '.steps[4].err == null and .steps[4].rows == [["100","0"]]'
psc_is "in a transaction: the non-matching prepared UPDATE runs (107, in transaction), the matching one gets 1213" \
  '.steps[6].err == null and .steps[7].rows == [["107","1"]] and .steps[8].err == 1213'
# (autocommit is still off in the driver's session, so the SELECT after it opens a new one.)
psc_is "after it the transaction is rolled back on the server: innodb_trx empty and row 1 unlocked at 100 (asked directly), balance 100 again" \
  '.steps[9].rows == [["0"]] and .steps[10].rows == [["100"]] and .steps[11].rows[0][0] == "100"'
psc_is "after COMMIT, MariaDB has 100,100: nothing of the failed transaction was committed" '.steps[13].rows == [["100,100"]]'
note "Com_stmt_execute on the server: $exec_before -> $exec_after (the 2 faulted executions never reach it)"

# SQL-level PREPARE/EXECUTE travel as COM_QUERY: the fault sees the text "EXECUTE s", not the
# prepared SQL, so it has to match that.
add_fault '{"name":"ps","type":"mysql_error","attributes":{"error":"deadlock","match":{"statement":"^\\s*execute\\s+up_s\\b"}}}'
mq -N -B --force shop <<'SQL'
PREPARE up_s FROM 'UPDATE acct SET balance = balance + 1 WHERE id = 1';
EXECUTE up_s;
SELECT balance FROM acct WHERE id = 1;
DEALLOCATE PREPARE up_s;
SQL
check "SQL-level PREPARE works, 'EXECUTE up_s' (COM_QUERY, matched by its own text) gets 1213, the row is unchanged" \
  "$([[ "$MQ_ERR" == "$(err_line 1213 40001 2 "$DEADLOCK_MSG")" && "$MQ_OUT" == 100 ]]; echo $?)" "$(mq_show)"
del_fault ps

# ---------------------------------------------------------------------------------------------
echo "== 7. probability 0.5 on SELECT 1, 100 statements in one session [${SECONDS}s]"

add_fault '{"name":"half","type":"mysql_error","probability":0.5,"attributes":{"error":"deadlock","match":{"statement":"^select 1 as one"}}}'
# Odd lines match (SELECT 1 AS one, N), even lines do not (SELECT N+1000): the answers must
# come back in order, each the right one.
for ((i = 1; i <= 100; i++)); do
  echo "SELECT 1 AS one, $i AS n;"
  echo "SELECT $((i + 1000)) AS other;"
done >"$DIR/half.sql"
mq -N -B --force shop <"$DIR/half.sql"
verdict=$(ERRS_TXT=$MQ_ERR OUT_TXT=$MQ_OUT "$PY" - <<'EOF'
import os, re
errs = [l for l in os.environ["ERRS_TXT"].splitlines() if l]
out = os.environ["OUT_TXT"].splitlines()
want = "Deadlock found when trying to get lock; try restarting transaction"
bad, failed = [], set()
for l in errs:
    m = re.fullmatch(r"ERROR 1213 \(40001\) at line (\d+): (.*)", l)
    if not m or m.group(2) != want or int(m.group(1)) % 2 != 1:
        bad.append(l)
    else:
        failed.add(int(m.group(1)))
expect = []
for i in range(1, 101):
    if 2 * i - 1 not in failed:
        expect.append("1\t%d" % i)
    expect.append(str(i + 1000))
ok = not bad and out == expect
first_diff = next((k for k, (a, b) in enumerate(zip(out, expect)) if a != b), None)
print("%d %d %s bad=%r rows=%d expected_rows=%d first_diff=%r" % (len(failed), 1 if ok else 0, "ok" if ok else "MISMATCH", bad[:3], len(out), len(expect),
      None if first_diff is None else (first_diff, out[first_diff], expect[first_diff])))
EOF
)
nerr=${verdict%% *}
note "probability 0.5: $verdict"
check "probability 0.5: $nerr of 100 matching statements failed with 1213 (in [25, 75]); no non-matching one did" \
  "$([[ "$nerr" =~ ^[0-9]+$ && $nerr -ge 25 && $nerr -le 75 && "$verdict" != *"bad=['"* ]]; echo $?)" "$verdict"
check "probability 0.5: every other answer is the right one, in order (no desynchronisation)" \
  "$([[ "$(cut -d' ' -f2 <<<"$verdict")" == 1 ]]; echo $?)" "$verdict; stderr tail $(_show "$(tail -n 3 <<<"$MQ_ERRALL")")"
del_fault half

# ---------------------------------------------------------------------------------------------
echo "== 8. at the end [${SECONDS}s]"

trx=$(direct 'SELECT COUNT(*) FROM information_schema.INNODB_TRX')
check "no InnoDB transaction left open" "$([[ "$trx" == 0 ]]; echo $?)" "innodb_trx $trx"
# Every client is gone: the proxy must have ended each server session too (bounded: 5 s).
for ((i = 0; i < 50; i++)); do
  left=$(direct "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon' AND ID <> CONNECTION_ID()")
  [[ "$left" == 0 ]] && break
  sleep 0.1
done
check "no server session left from the proxy" "$([[ "$left" == 0 ]]; echo $?)" \
  "$left left: $(direct "SELECT GROUP_CONCAT(CONCAT(ID, ':', COMMAND, ':', IFNULL(INFO, ''))) FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon' AND ID <> CONNECTION_ID()")"
check "brownout is still running" "$(brownout_alive; echo $?)" "it exited"

note "total: ${SECONDS}s"
stop_brownout
finish
