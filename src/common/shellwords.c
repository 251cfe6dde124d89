#include "common/shellwords.h"

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static void sb_put(sbuf *b, char c)
{
    if (b->len + 2 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 32;
        b->buf = xrealloc(b->buf, b->cap);
    }
    b->buf[b->len++] = c;
    b->buf[b->len] = '\0';
}

void shellwords_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int shellwords_split(const char *line, char ***ret, size_t *ret_n, gcs_err *err)
{
    char **v = xzalloc(sizeof(char *));
    size_t n = 0;
    sbuf w = {0};
    bool in_word = false;
    const char *p = line ? line : "";
    while (*p) {
        char c = *p;
        if (is_blank(c)) {
            if (in_word) {
                v = xrealloc(v, (n + 2) * sizeof(char *));
                v[n++] = w.buf ? w.buf : xstrdup("");
                v[n] = NULL;
                w = (sbuf){0};
                in_word = false;
            }
            p++;
            continue;
        }
        in_word = true;
        if (c == '\\') {
            if (!p[1])
                goto bad_escape;
            sb_put(&w, p[1]);
            p += 2;
        } else if (c == '\'') {
            const char *e = strchr(p + 1, '\'');
            if (!e)
                goto unterminated;
            for (const char *q = p + 1; q < e; q++)
                sb_put(&w, *q);
            if (e == p + 1 && !w.buf)
                w.buf = xstrdup("");
            p = e + 1;
        } else if (c == '"') {
            p++;
            bool closed = false;
            if (!w.buf)
                w.buf = xstrdup(""), w.cap = 1;
            while (*p) {
                if (*p == '"') {
                    closed = true;
                    p++;
                    break;
                }
                if (*p == '\\' && p[1] && strchr("\"\\$`\n", p[1])) {
                    if (p[1] != '\n')
                        sb_put(&w, p[1]);
                    p += 2;
                    continue;
                }
                sb_put(&w, *p++);
            }
            if (!closed)
                goto unterminated;
        } else {
            sb_put(&w, c);
            p++;
        }
    }
    if (in_word) {
        v = xrealloc(v, (n + 2) * sizeof(char *));
        v[n++] = w.buf ? w.buf : xstrdup("");
        v[n] = NULL;
    }
    *ret = v;
    *ret_n = n;
    return 0;
unterminated:
    free(w.buf);
    shellwords_free(v);
    return err_set(err, HR_E_INVALIDARG, "command line has an unterminated quote");
bad_escape:
    free(w.buf);
    shellwords_free(v);
    return err_set(err, HR_E_INVALIDARG, "command line ends with a backslash");
}
