#!/usr/bin/env bash
# Wire-contract checks of brownout's Toxiproxy-compatible REST API (reference:
# shared/reference/toxiproxy-api.md sections 1-5 and 10), done with curl against the real binary,
# plus the observable effect of a latency toxic on an HTTP GET through a proxy.
#
# Usage: bash tests/e2e/api_compat_test.sh /path/to/brownout
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init api_compat

BIN=${1:?usage: $0 /path/to/brownout}
command -v curl >/dev/null || die "curl is required"
command -v jq >/dev/null || die "jq is required"
command -v python3 >/dev/null || die "python3 is required"

start_http_upstream
start_brownout "$BIN"

UP="127.0.0.1:$HTTP_UPSTREAM_PORT"
TEXT='text/plain; charset=utf-8'
JSON='application/json'

# ---------------------------------------------------------------------------------------------
echo "== version, routing, guards"

api GET /version
expect_status "GET /version" 200
expect_ct "GET /version" 'application/json;charset=utf-8'
expect_jq "GET /version: version is 2.12.0" '.version == "2.12.0"'
if [[ "$RESP_BODY" == *$'\n' ]]; then pass "GET /version: body ends with a newline"; else fail "GET /version: body does not end with a newline: $(_show "$RESP_BODY")"; fi
if [[ "$RESP_BODY" != "{\"version\": \"2.12.0\"}"$'\n' ]]; then
  note "GET /version body is $(_show "$RESP_BODY"); Toxiproxy 2.12 sends exactly '{\"version\": \"2.12.0\"}\\n' (cosmetic, listed in docs/toxiproxy-compat.md)"
fi
rid=$(header_value X-Toxiproxy-Request-Id)
if [[ ${#rid} -eq 20 ]]; then pass "X-Toxiproxy-Request-Id is 20 chars ($rid)"; else fail "X-Toxiproxy-Request-Id missing or not 20 chars: '$rid'"; fi

api GET /proxies/
expect_response "GET /proxies/ (trailing slash)" 404 "$TEXT" $'404 page not found\n'
api GET /nonexistent
expect_response "GET /nonexistent" 404 "$TEXT" $'404 page not found\n'
api GET /reset
expect_response "GET /reset (wrong method)" 405 "" ""
api GET /metrics
expect_status "GET /metrics (brownout serves Prometheus metrics always)" 200
api PUT /proxies/whatever '{}'
expect_status "PUT /proxies/whatever (wrong method)" 405
api DELETE /proxies
expect_response "DELETE /proxies (wrong method)" 405 "" ""
api POST /version '{}'
expect_response "POST /version (wrong method)" 405 "" ""
api GET /populate
expect_response "GET /populate (wrong method)" 405 "" ""
api GET /proxies/web/other
expect_response "GET /proxies/web/other (unknown sub-path)" 404 "$TEXT" $'404 page not found\n'
api GET /version - -A 'Mozilla/5.0 (X11; Linux x86_64)'
expect_response "User-Agent Mozilla/5.0 on /version" 403 "$TEXT" $'User agent not allowed\n'
api POST /reset - -A 'Mozilla/5.0'
expect_response "User-Agent Mozilla/5.0 on POST /reset" 403 "$TEXT" $'User agent not allowed\n'

# ---------------------------------------------------------------------------------------------
echo "== proxies"

api GET /proxies
expect_response "GET /proxies (empty)" 200 "$JSON" "$RESP_BODY"
expect_jq "GET /proxies (empty) is {}" '. == {}'

api POST /proxies "{\"name\":\"web\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\"}"
expect_status "POST /proxies" 201
expect_ct "POST /proxies" "$JSON"
WEB_LISTEN=$(printf '%s' "$RESP_BODY" | jq -r '.listen' 2>/dev/null)
WEB_PORT=${WEB_LISTEN##*:}
if [[ "$WEB_LISTEN" =~ ^127\.0\.0\.1:[0-9]+$ && "$WEB_PORT" -gt 0 ]]; then
  pass "POST /proxies: listen 127.0.0.1:0 reported as real port ($WEB_LISTEN)"
else
  fail "POST /proxies: listen should be 127.0.0.1:<real port>, got '$WEB_LISTEN'"
  WEB_PORT=1
fi
expect_compact "POST /proxies: body fields and key order (Logger ignored)" \
  "{\"name\":\"web\",\"listen\":\"$WEB_LISTEN\",\"upstream\":\"$UP\",\"enabled\":true,\"toxics\":[]}"

got=$(curl -s --max-time 5 "http://$WEB_LISTEN/index.html")
if [[ "$got" == "hello from upstream" ]]; then pass "GET through proxy reaches the upstream"; else fail "GET through proxy: expected 'hello from upstream', got '$got'"; fi

api POST /proxies "{\"name\":\"web\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\"}"
expect_error "POST /proxies duplicate name" 409 "proxy already exists"

api POST /proxies '{"name":"zeta","listen":"localhost:0","upstream":"nonexistent.invalid:1","unknown_key":1}' -H 'Content-Type: application/x-www-form-urlencoded'
expect_status "POST /proxies: hostname listen, unresolvable upstream, unknown key, form content type" 201
expect_jq "POST /proxies: localhost:0 reported as 127.0.0.1:<port>, upstream stored unvalidated" \
  '(.listen | test("^127\\.0\\.0\\.1:[1-9][0-9]*$")) and .upstream == "nonexistent.invalid:1" and (has("unknown_key") | not)'
api GET /proxies
expect_jq "GET /proxies: map keys sorted by name" '(keys_unsorted == ["web","zeta"])'
api DELETE /proxies/zeta
expect_response "DELETE /proxies/zeta" 204 "" ""

api POST /proxies '{"name":"noup","listen":"127.0.0.1:0"}'
expect_error "POST /proxies without upstream" 400 "missing required field: upstream"
api POST /proxies "{\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\"}"
expect_error "POST /proxies without name" 400 "missing required field: name"

api GET /proxies
expect_status "GET /proxies" 200
expect_ct "GET /proxies" "$JSON"
expect_jq "GET /proxies is a map name -> proxy" \
  "type == \"object\" and (keys == [\"web\"]) and .web.name == \"web\" and .web.listen == \"$WEB_LISTEN\" and .web.upstream == \"$UP\" and .web.enabled == true and .web.toxics == []"

api GET /proxies/web
expect_status "GET /proxies/web" 200
expect_ct "GET /proxies/web" "$JSON"
expect_jq "GET /proxies/web body" ".name == \"web\" and .listen == \"$WEB_LISTEN\" and .enabled == true"

api GET /proxies/nope
expect_error "GET /proxies/nope" 404 "proxy not found"
api DELETE /proxies/nope
expect_error "DELETE /proxies/nope" 404 "proxy not found"
api GET /proxies/nope/toxics
expect_error "GET /proxies/nope/toxics" 404 "proxy not found"
api POST /proxies/nope/toxics '{"type":"latency"}'
expect_error "POST /proxies/nope/toxics" 404 "proxy not found"

api POST /proxies '{"name":"bad",'
expect_status "POST /proxies malformed JSON" 400
expect_ct "POST /proxies malformed JSON" "$TEXT"
expect_jq "POST /proxies malformed JSON: error starts with 'bad request body' and status 400" \
  '(.error | startswith("bad request body")) and .status == 400'
api POST /proxies ''
expect_error "POST /proxies empty body" 400 "bad request body: EOF"

# ---------------------------------------------------------------------------------------------
echo "== toxics: create and validate"

api GET /proxies/web/toxics
expect_response "GET /proxies/web/toxics (none)" 200 "$JSON" "$RESP_BODY"
expect_jq "GET /proxies/web/toxics (none) is []" '. == []'

api POST /proxies/web/toxics '{"type":"latency","attributes":{"latency":300}}'
expect_status "POST latency toxic" 200
expect_ct "POST latency toxic" "$JSON"
expect_compact "POST latency toxic: defaults filled, default name, key order" \
  '{"attributes":{"latency":300,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}'

# The latency toxic must really delay an HTTP GET through the proxy.
read -r code t < <(http_time "http://$WEB_LISTEN/index.html")
if [[ "$code" == 200 ]] && float_ge "$t" 0.3 && float_lt "$t" 1.5; then
  pass "latency 300 ms: GET through proxy took ${t}s (>= 0.3, < 1.5)"
else
  fail "latency 300 ms: GET through proxy returned $code in ${t}s (want 200, >= 0.3 s and < 1.5 s)"
fi

api POST /proxies/web/toxics '{"type":"latency","attributes":{"latency":5}}'
expect_error "POST duplicate toxic (same default name)" 409 "toxic already exists"
api POST /proxies/web/toxics '{"type":"bandwidth","name":"latency_downstream","stream":"upstream","attributes":{"rate":100}}'
expect_error "POST duplicate toxic name in the other direction" 409 "toxic already exists"

api POST /proxies/web/toxics '{"type":"earthquake","name":"eq2","stream":"sideways"}'
expect_error "validation order: stream is checked before type" 400 "stream was invalid, can be either upstream or downstream"
api POST /proxies/web/toxics '{"type":"earthquake","name":"latency_downstream"}'
expect_error "validation order: type is checked before name uniqueness" 400 "invalid toxic type"
api POST /proxies/web/toxics '{"type":"latency","name":"latency_downstream","attributes":{"latency":1.5}}'
expect_error "validation order: name uniqueness is checked before attributes" 409 "toxic already exists"

api POST /proxies/web/toxics '{"type":"earthquake","name":"eq"}'
expect_error "POST invalid toxic type" 400 "invalid toxic type"
api POST /proxies/web/toxics '{"name":"notype"}'
expect_error "POST toxic without type" 400 "invalid toxic type"

api POST /proxies/web/toxics '{"type":"latency","name":"sideways","stream":"sideways"}'
expect_error "POST toxic with bad stream" 400 "stream was invalid, can be either upstream or downstream"
api POST /proxies/web/toxics '{"type":"latency","name":"emptystream","stream":""}'
expect_error "POST toxic with empty stream" 400 "stream was invalid, can be either upstream or downstream"

api POST /proxies/web/toxics '{"type":"latency","name":"frac","attributes":{"latency":1.5}}'
expect_status "POST toxic with non-integer attribute (1.5)" 400
expect_jq "non-integer attribute: error JSON with status 400" '(.error | type == "string") and .status == 400'
api POST /proxies/web/toxics '{"type":"latency","name":"str","attributes":{"latency":"x"}}'
expect_status "POST toxic with string attribute (\"x\")" 400

api POST /proxies/web/toxics '{"type":"latency","name":"toxic15","toxicity":1.5}'
expect_status "POST toxic with toxicity 1.5" 400
expect_jq "toxicity 1.5: error JSON with status 400" '(.error | type == "string") and .status == 400'

api POST /proxies/web/toxics '{"type":"slicer","name":"slice0","attributes":{"average_size":0}}'
expect_status "POST slicer average_size 0" 400
expect_jq "slicer average_size 0: error mentions average_size" '(.error | contains("average_size")) and .status == 400'

api GET /proxies/web/toxics/frac
expect_error "rejected toxics were not added" 404 "toxic not found"

api POST /proxies/web/toxics '{"type":"bandwidth","stream":"UPSTREAM","attributes":{"rate":1000}}'
expect_status "POST toxic stream UPSTREAM" 200
expect_compact "POST toxic stream UPSTREAM: name/stream kept as sent" \
  '{"attributes":{"rate":1000},"name":"bandwidth_UPSTREAM","type":"bandwidth","stream":"UPSTREAM","toxicity":1}'

api POST /proxies/web/toxics '{"type":"slow_close","name":"sc","stream":"upstream","toxicity":0.25,"attributes":{"delay":10,"unknown_key":7}}'
expect_status "POST slow_close with unknown attribute key" 200
expect_compact "slow_close: unknown key dropped, toxicity kept" \
  '{"attributes":{"delay":10},"name":"sc","type":"slow_close","stream":"upstream","toxicity":0.25}'

api POST /proxies/web/toxics '{"type":"noop"}'
expect_status "POST noop toxic" 200
expect_compact "noop toxic: empty attributes" '{"attributes":{},"name":"noop_downstream","type":"noop","stream":"downstream","toxicity":1}'
api DELETE /proxies/web/toxics/noop_downstream
expect_status "DELETE noop toxic" 204

api GET /proxies/web/toxics
expect_status "GET /proxies/web/toxics" 200
expect_jq "toxics list: upstream first (insertion order), then downstream" \
  '[.[].name] == ["bandwidth_UPSTREAM","sc","latency_downstream"]'

api GET /proxies/web/toxics/latency_downstream
expect_status "GET toxic" 200
expect_compact "GET toxic body" \
  '{"attributes":{"latency":300,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}'

api GET /proxies/web
expect_jq "GET /proxies/web lists its toxics" '[.toxics[].name] == ["bandwidth_UPSTREAM","sc","latency_downstream"]'

# ---------------------------------------------------------------------------------------------
echo "== toxics: update and delete"

api PATCH /proxies/web/toxics/latency_downstream '{"attributes":{"jitter":10}}'
expect_status "PATCH toxic partial attributes" 200
expect_ct "PATCH toxic" "$JSON"
expect_compact "PATCH toxic merges attributes, keeps toxicity" \
  '{"attributes":{"latency":300,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}'

api PATCH /proxies/web/toxics/latency_downstream '{"toxicity":0.5,"name":"renamed","type":"bandwidth","stream":"upstream"}'
expect_status "PATCH toxic toxicity" 200
expect_compact "PATCH toxic: toxicity replaced, name/type/stream ignored" \
  '{"attributes":{"latency":300,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":0.5}'

api POST /proxies/web/toxics/latency_downstream '{"attributes":{"jitter":0},"toxicity":1}'
expect_status "POST (deprecated update) toxic" 200
expect_compact "POST toxic update" \
  '{"attributes":{"latency":300,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}'

api PATCH /proxies/web/toxics/latency_downstream '{"attributes":'
expect_status "PATCH toxic malformed JSON" 400
expect_jq "PATCH toxic malformed JSON: bad request body" '.error | startswith("bad request body")'

api PATCH /proxies/web/toxics/ghost '{"attributes":{"latency":1}}'
expect_error "PATCH unknown toxic" 404 "toxic not found"
api GET /proxies/web/toxics/ghost
expect_error "GET unknown toxic" 404 "toxic not found"
api DELETE /proxies/web/toxics/ghost
expect_error "DELETE unknown toxic" 404 "toxic not found"
api GET /proxies/nope/toxics/ghost
expect_error "GET toxic of unknown proxy" 404 "proxy not found"

api DELETE /proxies/web/toxics/latency_downstream
expect_response "DELETE toxic" 204 "" ""
api GET /proxies/web/toxics/latency_downstream
expect_error "GET deleted toxic" 404 "toxic not found"

read -r code t < <(http_time "http://$WEB_LISTEN/index.html")
if [[ "$code" == 200 ]] && float_lt "$t" 0.2; then
  pass "after DELETE the latency is gone: GET took ${t}s (< 0.2)"
else
  fail "after DELETE: GET returned $code in ${t}s (want 200 and < 0.2 s)"
fi

# ---------------------------------------------------------------------------------------------
echo "== proxy update: enable/disable"

api PATCH /proxies/web '{"enabled":false,"name":"ignored"}'
expect_status "PATCH proxy enabled:false" 200
expect_ct "PATCH proxy" "$JSON"
expect_jq "PATCH proxy enabled:false: body, name ignored, toxics kept" \
  ".name == \"web\" and .enabled == false and .listen == \"$WEB_LISTEN\" and ([.toxics[].name] == [\"bandwidth_UPSTREAM\",\"sc\"])"
if curl -s -o /dev/null --max-time 3 "http://$WEB_LISTEN/index.html"; then
  fail "disabled proxy still accepts connections on $WEB_LISTEN"
else
  pass "disabled proxy: connection to $WEB_LISTEN fails"
fi
api GET /proxies/web
expect_jq "GET disabled proxy: enabled false" '.enabled == false'

api PATCH /proxies/web '{"enabled":true}'
expect_status "PATCH proxy enabled:true" 200
expect_jq "PATCH proxy enabled:true: same listen address" ".enabled == true and .listen == \"$WEB_LISTEN\""
got=$(curl -s --max-time 5 "http://$WEB_LISTEN/index.html")
if [[ "$got" == "hello from upstream" ]]; then pass "re-enabled proxy serves again"; else fail "re-enabled proxy: expected 'hello from upstream', got '$got'"; fi

api POST /proxies/web '{"enabled":false}'
expect_status "POST (deprecated update) proxy enabled:false" 200
expect_jq "POST proxy update enabled:false" '.enabled == false'

api PATCH /proxies/web ''
expect_error "PATCH proxy with empty body" 400 "bad request body: EOF"
api PATCH /proxies/nope '{"enabled":true}'
expect_error "PATCH unknown proxy" 404 "proxy not found"

api POST /proxies "{\"name\":\"sleepy\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\",\"enabled\":false}"
expect_status "POST /proxies enabled:false" 201
expect_compact "POST /proxies enabled:false: not bound, listen kept as sent" \
  "{\"name\":\"sleepy\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\",\"enabled\":false,\"toxics\":[]}"

api PATCH /proxies/sleepy '{"upstream":"127.0.0.1:9"}'
expect_status "PATCH proxy upstream" 200
expect_jq "PATCH proxy upstream: changed, still disabled" '.upstream == "127.0.0.1:9" and .enabled == false'
api PATCH /proxies/sleepy "{\"upstream\":\"$UP\"}"

api POST /proxies "{\"name\":\"mover\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\"}"
MOVER_OLD=$(printf '%s' "$RESP_BODY" | jq -r '.listen' 2>/dev/null)
api PATCH /proxies/mover '{"listen":"127.0.0.1:0"}'
expect_status "PATCH proxy listen 127.0.0.1:0" 200
MOVER_NEW=$(printf '%s' "$RESP_BODY" | jq -r '.listen' 2>/dev/null)
if [[ "$MOVER_NEW" =~ ^127\.0\.0\.1:[1-9][0-9]*$ && "$MOVER_NEW" != "$MOVER_OLD" ]]; then
  pass "PATCH listen port 0: moved to a new real port ($MOVER_OLD -> $MOVER_NEW)"
else
  fail "PATCH listen port 0: expected a new 127.0.0.1:<port> different from $MOVER_OLD, got '$MOVER_NEW'"
fi
got=$(curl -s --max-time 5 "http://$MOVER_NEW/index.html")
if [[ "$got" == "hello from upstream" ]]; then pass "moved proxy serves on its new port"; else fail "moved proxy $MOVER_NEW: expected 'hello from upstream', got '$got'"; fi
if curl -s -o /dev/null --max-time 3 "http://$MOVER_OLD/index.html"; then
  fail "moved proxy still accepts connections on its old address $MOVER_OLD"
else
  pass "moved proxy: old address $MOVER_OLD closed"
fi
api DELETE /proxies/mover
expect_status "DELETE /proxies/mover" 204

# ---------------------------------------------------------------------------------------------
echo "== reset"

api POST /reset
expect_response "POST /reset" 204 "" ""
api GET /proxies/web
expect_jq "after reset: proxy re-enabled and toxics removed" '.enabled == true and .toxics == []'
api GET /proxies/sleepy
expect_jq "after reset: proxy created disabled is started on a real port" \
  '.enabled == true and (.listen | test("^127\\.0\\.0\\.1:[1-9][0-9]*$"))'
SLEEPY_LISTEN=$(printf '%s' "$RESP_BODY" | jq -r '.listen' 2>/dev/null)
got=$(curl -s --max-time 5 "http://$SLEEPY_LISTEN/index.html")
if [[ "$got" == "hello from upstream" ]]; then pass "proxy started by reset serves"; else fail "proxy started by reset ($SLEEPY_LISTEN): expected 'hello from upstream', got '$got'"; fi
api DELETE /proxies/sleepy
expect_status "DELETE /proxies/sleepy" 204
got=$(curl -s --max-time 5 "http://$WEB_LISTEN/index.html")
if [[ "$got" == "hello from upstream" ]]; then pass "after reset the proxy serves"; else fail "after reset: expected 'hello from upstream', got '$got'"; fi

# ---------------------------------------------------------------------------------------------
echo "== populate"

api POST /populate "[{\"name\":\"pop1\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\"},{\"name\":\"pop2\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\",\"enabled\":false}]"
expect_status "POST /populate" 201
expect_ct "POST /populate" "$JSON"
expect_jq "POST /populate: {proxies:[...]} with real ports" \
  '(.proxies | length) == 2 and .proxies[0].name == "pop1" and (.proxies[0].listen | test("^127\\.0\\.0\\.1:[1-9][0-9]*$")) and .proxies[0].enabled == true and .proxies[1].name == "pop2" and .proxies[1].enabled == false'
POP1_LISTEN=$(printf '%s' "$RESP_BODY" | jq -r '.proxies[0].listen' 2>/dev/null)
got=$(curl -s --max-time 5 "http://$POP1_LISTEN/index.html")
if [[ "$got" == "hello from upstream" ]]; then pass "populated proxy serves"; else fail "populated proxy $POP1_LISTEN: expected 'hello from upstream', got '$got'"; fi

api POST /proxies/pop1/toxics '{"type":"latency","name":"keepme","attributes":{"latency":1}}'
expect_status "POST toxic on populated proxy" 200
api POST /populate "[{\"name\":\"pop1\",\"listen\":\"$POP1_LISTEN\",\"upstream\":\"$UP\",\"enabled\":false}]"
expect_status "POST /populate of an unchanged existing proxy" 201
expect_jq "populate unchanged proxy: left untouched (enabled kept, toxics kept)" \
  ".proxies[0].name == \"pop1\" and .proxies[0].listen == \"$POP1_LISTEN\" and .proxies[0].enabled == true and ([.proxies[0].toxics[]?.name] == [\"keepme\"])"
api GET /proxies/pop1
expect_jq "populate unchanged proxy: GET shows it enabled with its toxic" \
  '.enabled == true and ([.toxics[].name] == ["keepme"])'

api POST /populate '[]'
expect_response "POST /populate []" 201 "$JSON" "$RESP_BODY"
expect_compact "POST /populate [] body" '{"proxies":null}'

api POST /populate "[{\"name\":\"pop3\",\"upstream\":\"$UP\"},{\"name\":\"pop4\"}]"
expect_status "POST /populate with a missing upstream" 400
expect_jq "populate validation error message" '.error == "missing required field: upstream at proxy 2" and .status == 400'
api GET /proxies/pop3
expect_error "populate validation failure applies nothing" 404 "proxy not found"

api POST /populate '{"name":"x"}'
expect_status "POST /populate with an object instead of an array" 400

api GET /proxies
expect_jq "GET /proxies after populate: keys sorted by name" 'keys_unsorted == ["pop1","pop2","web"]'

# ---------------------------------------------------------------------------------------------
echo "== bind failures"

start_port_holder
api POST /proxies "{\"name\":\"occupied\",\"listen\":\"127.0.0.1:$HELD_PORT\",\"upstream\":\"$UP\"}"
expect_status "POST /proxies on an occupied port" 500
expect_ct "POST /proxies on an occupied port" "$TEXT"
expect_jq "occupied port: raw Go-style bind error" \
  ".error == \"listen tcp 127.0.0.1:$HELD_PORT: bind: address already in use\" and .status == 500"
api GET /proxies/occupied
expect_error "proxy on an occupied port was not added" 404 "proxy not found"

api POST /populate "[{\"name\":\"popok\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\"},{\"name\":\"popbad\",\"listen\":\"127.0.0.1:$HELD_PORT\",\"upstream\":\"$UP\"},{\"name\":\"popnever\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\"}]"
expect_status "POST /populate whose 2nd entry cannot bind" 500
expect_jq "populate bind failure: error, status and the proxies done so far" \
  ".error == \"listen tcp 127.0.0.1:$HELD_PORT: bind: address already in use\" and .status == 500 and ([.proxies[].name] == [\"popok\"])"
api GET /proxies
expect_jq "populate bind failure: entries before it applied, failing and later ones not" \
  'has("popok") and (has("popbad") | not) and (has("popnever") | not)'
api DELETE /proxies/popok
expect_status "DELETE /proxies/popok" 204

api POST /proxies "{\"name\":\"failer\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$UP\"}"
expect_status "POST /proxies failer" 201
api PATCH /proxies/failer "{\"listen\":\"127.0.0.1:$HELD_PORT\"}"
expect_error "PATCH proxy listen to an occupied port" 500 "listen tcp 127.0.0.1:$HELD_PORT: bind: address already in use"
api GET /proxies/failer
expect_jq "failed update: proxy kept with the new listen and enabled:false" \
  ".listen == \"127.0.0.1:$HELD_PORT\" and .enabled == false"
api POST /reset
expect_error "POST /reset when a proxy cannot be re-enabled" 500 "listen tcp 127.0.0.1:$HELD_PORT: bind: address already in use"
api DELETE /proxies/failer
expect_response "DELETE /proxies/failer" 204 "" ""
api POST /reset
expect_response "POST /reset afterwards" 204 "" ""

# ---------------------------------------------------------------------------------------------
echo "== delete"

api DELETE /proxies/pop1
expect_response "DELETE /proxies/pop1" 204 "" ""
api GET /proxies/pop1
expect_error "GET deleted proxy" 404 "proxy not found"
if curl -s -o /dev/null --max-time 3 "http://$POP1_LISTEN/index.html"; then
  fail "deleted proxy still accepts connections on $POP1_LISTEN"
else
  pass "deleted proxy: listener closed"
fi

# brownout must still be running, and must exit cleanly (status 0) on SIGTERM.
stop_brownout

finish
