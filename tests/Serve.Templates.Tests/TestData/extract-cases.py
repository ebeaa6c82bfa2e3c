import json, re, sys
src = open('/tmp/llsrc/tests/test-chat-template.cpp', encoding='utf-8').read()
start = src.index('std::vector<TestCase> test_cases {')
end = src.index('std::vector<char> formatted_chat(1024);')
body = src[start:end]
def cstr(s, i):
    # s[i] == '"'; returns (value, next index)
    assert s[i] == '"'
    i += 1; out = []
    while s[i] != '"':
        c = s[i]
        if c == '\\':
            e = s[i+1]; i += 2
            m = {'n':'\n','t':'\t','r':'\r','"':'"','\\':'\\',"'":"'",'0':'\0'}
            if e in m: out.append(m[e])
            elif e == 'u': out.append(chr(int(s[i:i+4],16))); i += 4
            elif e == 'x':
                j = i
                while s[j] in '0123456789abcdefABCDEF': j += 1
                out.append(chr(int(s[i:j],16))); i = j
            else: raise Exception('escape ' + e)
        else:
            out.append(c); i += 1
    return ''.join(out), i+1
cases = []
for m in re.finditer(r'\{\s*/\* \.name= \*/', body):
    i = m.end(); fields = []
    # read values sequentially: strings (possibly U8C(...)), booleans, or {{...}} extra conversations
    depth = 0
    vals = []
    while True:
        while body[i] in ' \t\r\n,': i += 1
        if body.startswith('/*', i): i = body.index('*/', i) + 2; continue
        if body.startswith('//', i): i = body.index('\n', i); continue
        if body[i] == '}': break
        if body.startswith('U8C(', i):
            v, i = cstr(body, i+4); i = body.index(')', i) + 1; vals.append(v); continue
        if body[i] == '"':
            v, i = cstr(body, i)
            while True:
                j = i
                while body[j] in ' \t\r\n': j += 1
                if body[j] == '"': v2, i = cstr(body, j); v += v2
                else: break
            vals.append(v); continue
        if body.startswith('true', i): vals.append(True); i += 4; continue
        if body.startswith('false', i): vals.append(False); i += 5; continue
        if body[i] == '{':
            # extra conversation {{"role","content"}, ...}
            conv = []; i += 1
            while True:
                while body[i] in ' \t\r\n,': i += 1
                if body[i] == '}': i += 1; break
                assert body[i] == '{', body[i:i+40]
                r, i = cstr(body, body.index('"', i)); c, i = cstr(body, body.index('"', i)); i = body.index('}', i) + 1
                conv.append({'role': r, 'content': c})
            vals.append(conv); continue
        raise Exception('unexpected: ' + body[i:i+60])
    name, tmpl, expected, expected_jinja = vals[0], vals[1], vals[2], vals[3]
    rest = vals[4:]
    bos = rest[0] if len(rest) > 0 else ''
    eos = rest[1] if len(rest) > 1 else ''
    supported = rest[2] if len(rest) > 2 else True
    extra = rest[3] if len(rest) > 3 else []
    cases.append({'name': name, 'template': tmpl, 'expected': expected_jinja or expected, 'bos_token': bos, 'eos_token': eos,
                  'supported_with_jinja': supported, 'extra_conversation': extra})
print(len(cases), sum(1 for c in cases if c['supported_with_jinja']), file=sys.stderr)
json.dump(cases, open(sys.argv[1], 'w', encoding='utf-8'), ensure_ascii=False, indent=1)
