/*
 * Fake libWeWorkFinanceSdk_C.so for wecom-audit.
 *
 * Exports exactly the C ABI of Tencent's WeCom Finance SDK (WeWorkFinanceSdk_C.h)
 * but talks plain HTTP (libcurl) to the wecom-audit simulator server. DecryptData is
 * Tencent's own algorithm, measured on their library (spec §1.1b), with the same
 * return codes and the same process aborts for the inputs that abort theirs. The
 * contract (endpoints, record format, return codes, fault switches, where we differ
 * from Tencent's library) is docs/fake-sdk.md.
 *
 * Build (see archive/simulator/fakesdk/__init__.py):
 *   cc -std=c11 -O2 -g -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror \
 *      -Wl,-z,defs -o libWeWorkFinanceSdk_C.so fake_finance_sdk.c -lcurl -lcrypto -lpthread -ldl
 *
 * Threading: one SDK handle must be used by one thread at a time (it owns one
 * reused CURL easy handle). DecryptData and the Slice/MediaData helpers are
 * thread-safe; the only shared mutable state is the process-wide fault counters
 * (atomics), the fault table (mutex) and the forwarding table (set at load time).
 * Forwarded to Tencent's library, DecryptData is as thread-safe as theirs, which is
 * undocumented (spec §1.5).
 */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dlfcn.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define API __attribute__((visibility("default")))

/* ------------------------------------------------------------------------- */
/* Public ABI (mirrors WeWorkFinanceSdk_C.h)                                  */
/* ------------------------------------------------------------------------- */

typedef struct WeWorkFinanceSdk_t WeWorkFinanceSdk_t;

typedef struct Slice_t {
    char *buf;
    int len;
} Slice_t;

typedef struct MediaData {
    char *outindexbuf;
    int out_len;
    char *data;
    int data_len;
    int is_finish;
} MediaData_t;

API WeWorkFinanceSdk_t *NewSdk(void);
API int Init(WeWorkFinanceSdk_t *sdk, const char *corpid, const char *secret);
API int GetChatData(WeWorkFinanceSdk_t *sdk, unsigned long long seq, unsigned int limit,
                    const char *proxy, const char *passwd, int timeout, Slice_t *chatDatas);
API int DecryptData(const char *encrypt_key, const char *encrypt_msg, Slice_t *msg);
API int GetMediaData(WeWorkFinanceSdk_t *sdk, const char *indexbuf, const char *sdkFileid,
                     const char *proxy, const char *passwd, int timeout,
                     MediaData_t *media_data);
API void DestroySdk(WeWorkFinanceSdk_t *sdk);
API Slice_t *NewSlice(void);
API void FreeSlice(Slice_t *slice);
API char *GetContentFromSlice(Slice_t *slice);
API int GetSliceLen(Slice_t *slice);
API MediaData_t *NewMediaData(void);
API void FreeMediaData(MediaData_t *media_data);
API char *GetOutIndexBuf(MediaData_t *media_data);
API char *GetData(MediaData_t *media_data);
API int GetIndexLen(MediaData_t *media_data);
API int GetDataLen(MediaData_t *media_data);
API int IsMediaDataFinish(MediaData_t *media_data);

/* ------------------------------------------------------------------------- */
/* Constants                                                                   */
/* ------------------------------------------------------------------------- */

enum {
    RC_OK = 0,
    RC_PARAM = 10000,
    RC_NETWORK = 10001,
    RC_PARSE = 10002,
    RC_INTERNAL = 10003,
    RC_BAD_KEY_INFO = 10005, /* DecryptData: SdkKeyInfo unparsable or inconsistent */
    RC_DECRYPT = 10006,
    RC_BAD_KEY = 10008,
};

#define DEFAULT_BASE_URL "http://127.0.0.1:18930"
#define MAX_LIMIT 1000u
#define HEAD_JUNK_LEN 13 /* encrypt_chat_msg: 13 junk characters, then W */
#define W_LEN 32
#define AES_KEY_LEN 32
#define AES_BLOCK 16
#define MAX_BODY_BYTES ((size_t)256 * 1024 * 1024)
#define MAX_HEADER_VALUE 4096u
#define MAX_SEQ_LIST 256
#define FAULT_TABLE_MAX 1024

#define ENV_URL "WECOM_FAKE_SDK_URL"
#define ENV_CHATDATA_RC "WECOM_FAKE_SDK_CHATDATA_RC"
#define ENV_CHATDATA_RC_TIMES "WECOM_FAKE_SDK_CHATDATA_RC_TIMES"
#define ENV_GARBLE_TIMES "WECOM_FAKE_SDK_CHATDATA_GARBLE_TIMES"
#define ENV_CRASH_SEQ "WECOM_FAKE_SDK_CRASH_SEQ"
#define ENV_CORRUPT_SEQ "WECOM_FAKE_SDK_CORRUPT_SEQ"
#define ENV_MEDIA_CORRUPT_TIMES "WECOM_FAKE_SDK_MEDIA_CORRUPT_TIMES"
#define ENV_MEDIA_CRASH_AFTER "WECOM_FAKE_SDK_MEDIA_CRASH_AFTER_CHUNKS"
#define ENV_DECRYPT_LIBRARY "WECOM_FAKE_SDK_DECRYPT_LIBRARY"

struct WeWorkFinanceSdk_t {
    CURL *curl;
    char *corpid;
    char *secret;
};

/* ------------------------------------------------------------------------- */
/* Process-wide state                                                         */
/* ------------------------------------------------------------------------- */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc = CURLE_FAILED_INIT;

static atomic_ullong g_chatdata_rc_calls;
static atomic_ullong g_garble_calls;
static atomic_ullong g_media_corrupt_chunks;
static atomic_ullong g_media_calls;

typedef struct {
    unsigned long long seq;
    char *msg;
} fault_entry_t;

static pthread_mutex_t g_fault_mu = PTHREAD_MUTEX_INITIALIZER;
static fault_entry_t g_fault_table[FAULT_TABLE_MAX];
static size_t g_fault_count;
static size_t g_fault_next; /* ring position once the table is full */
static atomic_size_t g_fault_used;

static void curl_global_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ------------------------------------------------------------------------- */
/* Growable byte buffer                                                       */
/* ------------------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool failed; /* out of memory or over MAX_BODY_BYTES */
} buf_t;

static bool buf_reserve(buf_t *b, size_t extra) {
    if (b->failed) return false;
    if (extra > MAX_BODY_BYTES || b->len > MAX_BODY_BYTES - extra) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

static void buf_append(buf_t *b, const void *src, size_t n) {
    if (!buf_reserve(b, n + 1)) return; /* +1 keeps room for a terminating NUL */
    if (n) memcpy(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_append_str(buf_t *b, const char *s) { buf_append(b, s, strlen(s)); }

static void buf_append_json_string(buf_t *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; ++p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_append(b, esc, 2);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
            buf_append(b, esc, 6);
        } else {
            buf_append(b, p, 1);
        }
    }
    buf_append(b, "\"", 1);
}

static void buf_free(buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------------- */
/* Environment helpers                                                        */
/* ------------------------------------------------------------------------- */

/* True if the variable is set to an integer (surrounding blanks allowed). */
static bool env_ll(const char *name, long long *out) {
    const char *v = getenv(name);
    if (!v) return false;
    while (*v == ' ' || *v == '\t') ++v;
    if (!*v) return false;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (end == v) return false;
    while (*end == ' ' || *end == '\t') ++end;
    if (*end) return false;
    *out = n;
    return true;
}

/* Parses "<seq>[,<seq>...]"; unparsable items are skipped. */
static size_t env_seq_list(const char *name, unsigned long long *out, size_t max) {
    const char *v = getenv(name);
    size_t n = 0;
    if (!v) return 0;
    const char *p = v;
    while (*p && n < max) {
        while (*p == ' ' || *p == '\t' || *p == ',') ++p;
        if (!*p) break;
        char *end = NULL;
        if (*p >= '0' && *p <= '9') {
            unsigned long long s = strtoull(p, &end, 10);
            if (end != p) out[n++] = s;
            p = end;
        }
        while (*p && *p != ',') ++p; /* skip the rest of a malformed item */
    }
    return n;
}

static bool seq_in(const unsigned long long *list, size_t n, unsigned long long seq) {
    for (size_t i = 0; i < n; ++i)
        if (list[i] == seq) return true;
    return false;
}

static bool seq_in_env(const char *name, unsigned long long seq) {
    unsigned long long list[MAX_SEQ_LIST];
    size_t n = env_seq_list(name, list, MAX_SEQ_LIST);
    return seq_in(list, n, seq);
}

/* "Consume" one of the first n occurrences: true for the first n calls. */
static bool take_times(atomic_ullong *counter, long long n) {
    if (n <= 0) return false;
    unsigned long long prev = atomic_fetch_add(counter, 1);
    return prev < (unsigned long long)n;
}

_Noreturn static void die_segv(void) {
    raise(SIGSEGV);
    /* A handler returned (or SIGSEGV was ignored): die for real. */
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    abort();
}

/* ------------------------------------------------------------------------- */
/* Fault table for the seq switches                                           */
/* ------------------------------------------------------------------------- */

static void fault_remember(unsigned long long seq, char *msg /* takes ownership */) {
    pthread_mutex_lock(&g_fault_mu);
    for (size_t i = 0; i < g_fault_count; ++i) {
        if (strcmp(g_fault_table[i].msg, msg) == 0) {
            g_fault_table[i].seq = seq;
            pthread_mutex_unlock(&g_fault_mu);
            free(msg);
            return;
        }
    }
    if (g_fault_count < FAULT_TABLE_MAX) {
        g_fault_table[g_fault_count].seq = seq;
        g_fault_table[g_fault_count].msg = msg;
        ++g_fault_count;
        atomic_store(&g_fault_used, g_fault_count);
    } else {
        free(g_fault_table[g_fault_next].msg);
        g_fault_table[g_fault_next].seq = seq;
        g_fault_table[g_fault_next].msg = msg;
        g_fault_next = (g_fault_next + 1) % FAULT_TABLE_MAX;
    }
    pthread_mutex_unlock(&g_fault_mu);
}

static bool fault_lookup(const char *msg, unsigned long long *seq) {
    if (atomic_load(&g_fault_used) == 0) return false;
    bool found = false;
    pthread_mutex_lock(&g_fault_mu);
    for (size_t i = 0; i < g_fault_count; ++i) {
        if (strcmp(g_fault_table[i].msg, msg) == 0) {
            *seq = g_fault_table[i].seq;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&g_fault_mu);
    return found;
}

/* ------------------------------------------------------------------------- */
/* Minimal scanner for the chatdata records                                   */
/* ------------------------------------------------------------------------- */

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* s[*i] == '"': advance *i past the closing quote; returns false if unterminated. */
static bool skip_json_string(const char *s, size_t n, size_t *i) {
    size_t k = *i + 1;
    while (k < n) {
        if (s[k] == '\\') {
            k += 2;
        } else if (s[k] == '"') {
            *i = k + 1;
            return true;
        } else {
            ++k;
        }
    }
    return false;
}

/* JSON string body (without quotes) -> malloc'd C string; handles the simple escapes. */
static char *json_unescape(const char *s, size_t n) {
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; ++i) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char e = s[++i];
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            default: c = e; break; /* '"', '\\', '/' (\u escapes never occur in base64) */
            }
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

/* One innermost (flat) JSON object, without its braces. */
static void scan_flat_object(const char *s, size_t n, const unsigned long long *crash,
                             size_t ncrash, const unsigned long long *corrupt, size_t ncorrupt) {
    bool have_seq = false;
    unsigned long long seq = 0;
    const char *msg = NULL;
    size_t msg_len = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && (is_ws(s[i]) || s[i] == ',')) ++i;
        if (i >= n || s[i] != '"') break;
        size_t key_start = i + 1;
        if (!skip_json_string(s, n, &i)) return;
        size_t key_len = i - 1 - key_start;
        while (i < n && is_ws(s[i])) ++i;
        if (i >= n || s[i] != ':') return;
        ++i;
        while (i < n && is_ws(s[i])) ++i;
        if (i >= n) return;
        size_t val_start = i;
        bool is_str = s[i] == '"';
        if (is_str) {
            if (!skip_json_string(s, n, &i)) return;
        } else {
            int depth = 0;
            while (i < n) {
                char c = s[i];
                if (c == '"') {
                    if (!skip_json_string(s, n, &i)) return;
                    continue;
                }
                if (c == '[') ++depth;
                else if (c == ']') --depth;
                else if (c == ',' && depth <= 0) break;
                ++i;
            }
        }
        size_t val_len = i - val_start;
        const char *key = s + key_start;
        if (key_len == 3 && memcmp(key, "seq", 3) == 0) {
            char tmp[32];
            const char *v = s + val_start;
            size_t vl = val_len;
            if (is_str && vl >= 2) { /* tolerate "seq":"123" */
                ++v;
                vl -= 2;
            }
            if (vl > 0 && vl < sizeof tmp && v[0] >= '0' && v[0] <= '9') {
                memcpy(tmp, v, vl);
                tmp[vl] = '\0';
                char *end = NULL;
                unsigned long long x = strtoull(tmp, &end, 10);
                while (end && is_ws(*end)) ++end;
                if (end && *end == '\0') {
                    seq = x;
                    have_seq = true;
                }
            }
        } else if (is_str && key_len == 16 && memcmp(key, "encrypt_chat_msg", 16) == 0) {
            msg = s + val_start + 1;
            msg_len = val_len - 2;
        }
    }
    if (!have_seq || !msg) return;
    if (!seq_in(crash, ncrash, seq) && !seq_in(corrupt, ncorrupt, seq)) return;
    char *copy = json_unescape(msg, msg_len);
    if (copy) fault_remember(seq, copy);
}

/* Remembers the encrypt_chat_msg of every record whose seq a seq switch names. */
static void remember_named_records(const char *body, size_t n) {
    unsigned long long crash[MAX_SEQ_LIST], corrupt[MAX_SEQ_LIST];
    size_t ncrash = env_seq_list(ENV_CRASH_SEQ, crash, MAX_SEQ_LIST);
    size_t ncorrupt = env_seq_list(ENV_CORRUPT_SEQ, corrupt, MAX_SEQ_LIST);
    if (ncrash == 0 && ncorrupt == 0) return;
    size_t open = SIZE_MAX;
    size_t i = 0;
    while (i < n) {
        char c = body[i];
        if (c == '"') {
            if (!skip_json_string(body, n, &i)) return;
            continue;
        }
        if (c == '{') {
            open = i;
        } else if (c == '}' && open != SIZE_MAX) {
            scan_flat_object(body + open + 1, i - open - 1, crash, ncrash, corrupt, ncorrupt);
            open = SIZE_MAX;
        }
        ++i;
    }
}

/* ------------------------------------------------------------------------- */
/* HTTP                                                                        */
/* ------------------------------------------------------------------------- */

typedef struct {
    buf_t body;
    char *outindex;
    size_t outindex_len;
    bool has_finish;
    int is_finish;
    bool has_sdk_rc;
    long sdk_rc;
    bool failed; /* allocation failure in the header callback */
} response_t;

static void response_reset_headers(response_t *r) {
    free(r->outindex);
    r->outindex = NULL;
    r->outindex_len = 0;
    r->has_finish = false;
    r->is_finish = 0;
    r->has_sdk_rc = false;
    r->sdk_rc = 0;
}

static void response_free(response_t *r) {
    response_reset_headers(r);
    buf_free(&r->body);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
    response_t *r = userdata;
    size_t n = size * nmemb;
    buf_append(&r->body, ptr, n);
    return r->body.failed ? 0 : n;
}

static bool header_is(const char *name, size_t len, const char *want) {
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

static bool parse_long(const char *s, size_t n, long *out) {
    char tmp[32];
    if (n == 0 || n >= sizeof tmp) return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end = NULL;
    long v = strtol(tmp, &end, 10);
    if (end == tmp || *end) return false;
    *out = v;
    return true;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *userdata) {
    response_t *r = userdata;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        response_reset_headers(r); /* new response (e.g. after a proxy CONNECT or 100) */
        return n;
    }
    const char *colon = memchr(ptr, ':', n);
    if (!colon) return n;
    const char *name = ptr;
    size_t name_len = (size_t)(colon - ptr);
    while (name_len && is_ws(name[name_len - 1])) --name_len;
    const char *val = colon + 1;
    const char *end = ptr + n;
    while (val < end && is_ws(*val)) ++val;
    while (end > val && is_ws(end[-1])) --end;
    size_t val_len = (size_t)(end - val);

    if (header_is(name, name_len, "X-Outindexbuf")) {
        if (val_len > MAX_HEADER_VALUE) return n;
        char *copy = malloc(val_len + 1);
        if (!copy) {
            r->failed = true;
            return 0;
        }
        memcpy(copy, val, val_len);
        copy[val_len] = '\0';
        free(r->outindex);
        r->outindex = copy;
        r->outindex_len = val_len;
    } else if (header_is(name, name_len, "X-Is-Finish")) {
        long v;
        if (parse_long(val, val_len, &v)) {
            r->has_finish = true;
            r->is_finish = v != 0;
        }
    } else if (header_is(name, name_len, "X-Sdk-Rc")) {
        long v;
        if (parse_long(val, val_len, &v)) {
            r->has_sdk_rc = true;
            r->sdk_rc = v;
        }
    }
    return n;
}

static char *build_url(const char *path) {
    const char *base = getenv(ENV_URL);
    if (!base || !*base) base = DEFAULT_BASE_URL;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') --bl;
    size_t pl = strlen(path);
    char *url = malloc(bl + pl + 1);
    if (!url) return NULL;
    memcpy(url, base, bl);
    memcpy(url + bl, path, pl + 1);
    return url;
}

#define SETOPT(opt, val)                                                                   \
    do {                                                                                   \
        if (curl_easy_setopt(c, opt, val) != CURLE_OK) goto out;                           \
    } while (0)

/*
 * POSTs the JSON request. Returns RC_OK when an HTTP response arrived (any status,
 * stored in *status), RC_NETWORK on transport failure, RC_INTERNAL otherwise.
 */
static int http_post(WeWorkFinanceSdk_t *sdk, const char *path, const buf_t *req,
                     const char *proxy, const char *passwd, int timeout, response_t *resp,
                     long *status) {
    int rc = RC_INTERNAL;
    CURL *c = sdk->curl;
    struct curl_slist *headers = NULL, *tmp = NULL;
    char *url = build_url(path);
    if (!url) return RC_INTERNAL;
    tmp = curl_slist_append(headers, "Content-Type: application/json");
    if (!tmp) goto out;
    headers = tmp;
    tmp = curl_slist_append(headers, "Expect:");
    if (!tmp) goto out;
    headers = tmp;

    /* Reset options only: live connections (keep-alive) survive curl_easy_reset. */
    curl_easy_reset(c);
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_POSTFIELDS, req->data);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
    SETOPT(CURLOPT_HTTPHEADER, headers);
    SETOPT(CURLOPT_USERAGENT, "WeWorkFinanceSdk-fake/1.0");
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, (void *)resp);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, (void *)resp);
    /* NULL/"" proxy: no proxy at all (also ignores http_proxy & co in the environment). */
    SETOPT(CURLOPT_PROXY, proxy ? proxy : "");
    if (passwd && *passwd) SETOPT(CURLOPT_PROXYUSERPWD, passwd);
    if (timeout > 0) SETOPT(CURLOPT_TIMEOUT, (long)timeout);

    CURLcode cc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    if (cc != CURLE_OK) {
        rc = (resp->body.failed || resp->failed) ? RC_INTERNAL : RC_NETWORK;
        goto out;
    }
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status) != CURLE_OK) goto out;
    rc = RC_OK;
out:
    curl_slist_free_all(headers);
    free(url);
    return rc;
}

#undef SETOPT

static int status_rc(long status) {
    return status >= 500 && status <= 599 ? RC_INTERNAL : RC_PARSE;
}

/* ------------------------------------------------------------------------- */
/* Slice / MediaData helpers                                                  */
/* ------------------------------------------------------------------------- */

/* Takes ownership of data (which must have room for data[n] = '\0'). */
static void slice_take(Slice_t *s, char *data, size_t n) {
    data[n] = '\0';
    free(s->buf);
    s->buf = data;
    s->len = (int)n;
}

static char *empty_string(void) { return calloc(1, 1); }

/* Like Tencent's getters: a static "" (never NULL) for a NULL object or buffer. */
static char g_empty[1];

static char *or_empty(char *p) { return p ? p : g_empty; }

API Slice_t *NewSlice(void) {
    Slice_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->buf = empty_string();
    if (!s->buf) {
        free(s);
        return NULL;
    }
    return s;
}

API void FreeSlice(Slice_t *slice) {
    if (!slice) return;
    free(slice->buf);
    free(slice);
}

API char *GetContentFromSlice(Slice_t *slice) { return slice ? or_empty(slice->buf) : g_empty; }

API int GetSliceLen(Slice_t *slice) { return slice ? slice->len : 0; }

API MediaData_t *NewMediaData(void) {
    MediaData_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->outindexbuf = empty_string();
    m->data = empty_string();
    if (!m->outindexbuf || !m->data) {
        free(m->outindexbuf);
        free(m->data);
        free(m);
        return NULL;
    }
    return m;
}

API void FreeMediaData(MediaData_t *media_data) {
    if (!media_data) return;
    free(media_data->outindexbuf);
    free(media_data->data);
    free(media_data);
}

API char *GetOutIndexBuf(MediaData_t *media_data) {
    return media_data ? or_empty(media_data->outindexbuf) : g_empty;
}

API char *GetData(MediaData_t *media_data) {
    return media_data ? or_empty(media_data->data) : g_empty;
}

API int GetIndexLen(MediaData_t *media_data) { return media_data ? media_data->out_len : 0; }

API int GetDataLen(MediaData_t *media_data) { return media_data ? media_data->data_len : 0; }

/* Tencent's returns 1 for NULL: "nothing more to fetch". */
API int IsMediaDataFinish(MediaData_t *media_data) {
    return media_data ? media_data->is_finish : 1;
}

/* ------------------------------------------------------------------------- */
/* SDK lifecycle                                                              */
/* ------------------------------------------------------------------------- */

API WeWorkFinanceSdk_t *NewSdk(void) {
    pthread_once(&g_curl_once, curl_global_once);
    if (g_curl_init_rc != CURLE_OK) return NULL;
    WeWorkFinanceSdk_t *sdk = calloc(1, sizeof *sdk);
    if (!sdk) return NULL;
    sdk->curl = curl_easy_init();
    if (!sdk->curl) {
        free(sdk);
        return NULL;
    }
    return sdk;
}

static void free_secret(char **p) {
    if (*p) {
        OPENSSL_cleanse(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

API int Init(WeWorkFinanceSdk_t *sdk, const char *corpid, const char *secret) {
    if (!sdk || !corpid || !*corpid || !secret || !*secret) return RC_PARAM;
    char *c = strdup(corpid);
    char *s = strdup(secret);
    if (!c || !s) {
        free(c);
        free(s);
        return RC_INTERNAL;
    }
    free(sdk->corpid);
    free_secret(&sdk->secret);
    sdk->corpid = c;
    sdk->secret = s;
    return RC_OK;
}

API void DestroySdk(WeWorkFinanceSdk_t *sdk) {
    if (!sdk) return;
    if (sdk->curl) curl_easy_cleanup(sdk->curl);
    free(sdk->corpid);
    free_secret(&sdk->secret);
    free(sdk);
}

/* ------------------------------------------------------------------------- */
/* GetChatData                                                                */
/* ------------------------------------------------------------------------- */

API int GetChatData(WeWorkFinanceSdk_t *sdk, unsigned long long seq, unsigned int limit,
                    const char *proxy, const char *passwd, int timeout, Slice_t *chatDatas) {
    if (!sdk || !chatDatas || !sdk->corpid || !sdk->secret) return RC_PARAM;
    if (limit == 0 || limit > MAX_LIMIT) return RC_PARAM;

    long long forced_rc;
    if (env_ll(ENV_CHATDATA_RC, &forced_rc) && forced_rc != 0) {
        long long times = 0;
        if (!env_ll(ENV_CHATDATA_RC_TIMES, &times) || times <= 0 ||
            take_times(&g_chatdata_rc_calls, times))
            return (int)forced_rc;
    }

    buf_t req = {0};
    char num[64];
    buf_append_str(&req, "{\"corpid\":");
    buf_append_json_string(&req, sdk->corpid);
    buf_append_str(&req, ",\"secret\":");
    buf_append_json_string(&req, sdk->secret);
    snprintf(num, sizeof num, ",\"seq\":%llu,\"limit\":%u}", seq, limit);
    buf_append_str(&req, num);
    if (req.failed) {
        buf_free(&req);
        return RC_INTERNAL;
    }

    response_t resp = {0};
    long status = 0;
    int rc = http_post(sdk, "/finance/getchatdata", &req, proxy, passwd, timeout, &resp, &status);
    OPENSSL_cleanse(req.data, req.len);
    buf_free(&req);
    if (rc != RC_OK) goto out;
    if (status != 200) {
        rc = status_rc(status);
        goto out;
    }
    if (resp.body.len > (size_t)INT_MAX - 1 || !buf_reserve(&resp.body, 1)) {
        rc = RC_INTERNAL;
        goto out;
    }

    remember_named_records(resp.body.data, resp.body.len);

    long long garble = 0;
    size_t len = resp.body.len;
    if (env_ll(ENV_GARBLE_TIMES, &garble) && take_times(&g_garble_calls, garble)) len /= 2;

    slice_take(chatDatas, resp.body.data, len);
    resp.body.data = NULL; /* now owned by the slice */
    rc = RC_OK;
out:
    response_free(&resp);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* DecryptData: Tencent's algorithm (spec §1.1b; Python reference:         */
/* archive/simulator/cipher.py decrypt_message)                               */
/* ------------------------------------------------------------------------- */

/*
 * What Tencent's library does when a C++ exception escapes its extern "C" entry point:
 * std::terminate, whose verbose handler prints these two lines, then abort() (SIGABRT).
 */
_Noreturn static void die_cxx(const char *type, const char *what) {
    fprintf(stderr, "terminate called after throwing an instance of '%s'\n  what():  %s\n", type,
            what);
    fflush(stderr);
    abort();
}

/* std::out_of_range as libstdc++'s __throw_out_of_range_fmt words it. */
_Noreturn static void die_out_of_range(const char *where, size_t pos, size_t size) {
    char what[160];
    snprintf(what, sizeof what, "%s: __pos (which is %zu) > this->size() (which is %zu)", where,
             pos, size);
    die_cxx("std::out_of_range", what);
}

/* The library's base64 alphabet; anything else ('=' and whitespace too) decodes as 0. */
static unsigned b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return (unsigned)(c - 'A');
    if (c >= 'a' && c <= 'z') return (unsigned)(c - 'a') + 26u;
    if (c >= '0' && c <= '9') return (unsigned)(c - '0') + 52u;
    if (c == '+') return 62u;
    if (c == '/') return 63u;
    return 0u;
}

/*
 * The library's own base64 decoder, which rejects nothing: len/4 groups of four
 * characters (a shorter tail is ignored), then one byte dropped per '=' at the very end
 * of the text. More trailing '=' than decoded bytes makes the library call
 * std::string::assign with a negative length: std::length_error, so we die the same way.
 * Returns a malloc'd buffer, NULL when out of memory.
 */
static unsigned char *sdk_b64decode(const char *text, size_t n, size_t *out_len) {
    const unsigned char *s = (const unsigned char *)text;
    size_t groups = n / 4;
    unsigned char *out = malloc(3 * groups + 1);
    if (!out) return NULL;
    for (size_t g = 0; g < groups; ++g) {
        const unsigned char *q = s + 4 * g;
        unsigned a = b64_value(q[0]), b = b64_value(q[1]), c = b64_value(q[2]), d = b64_value(q[3]);
        out[3 * g] = (unsigned char)((a << 2) | (b >> 4));
        out[3 * g + 1] = (unsigned char)(((b << 4) | (c >> 2)) & 0xffu);
        out[3 * g + 2] = (unsigned char)(((c << 6) | d) & 0xffu);
    }
    size_t trailing = 0;
    while (trailing < n && s[n - 1 - trailing] == '=') ++trailing;
    if (trailing > 3 * groups) die_cxx("std::length_error", "basic_string::assign");
    *out_len = 3 * groups - trailing;
    return out;
}

enum { AES_OK, AES_FAIL, AES_NOMEM };

/*
 * aes(key, text) of §1.1b: the decoder above, then AES-256-CBC with the first 16 bytes
 * as IV over the rest, PKCS#7; the key zero-padded or truncated to 32 bytes. The decoded
 * text must be at least 32 bytes and a whole number of blocks. On AES_OK *plain is
 * malloc'd with one spare byte.
 */
static int sdk_aes_decrypt(const unsigned char *key, size_t key_len, const char *text,
                           size_t text_len, unsigned char **plain, size_t *plain_len) {
    /* UNCERTAIN: the library keeps lengths in an int; past 2 GiB we just fail. */
    if (text_len > (size_t)INT_MAX) return AES_FAIL;
    size_t raw_len = 0;
    unsigned char *raw = sdk_b64decode(text, text_len, &raw_len);
    if (!raw) return AES_NOMEM;
    if (raw_len < 2 * AES_BLOCK || raw_len % AES_BLOCK) {
        free(raw);
        return AES_FAIL;
    }
    unsigned char aes_key[AES_KEY_LEN] = {0};
    memcpy(aes_key, key, key_len < AES_KEY_LEN ? key_len : AES_KEY_LEN);
    int rc = AES_NOMEM;
    int outl = 0, finl = 0;
    size_t ct_len = raw_len - AES_BLOCK;
    unsigned char *out = malloc(ct_len + AES_BLOCK + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!out || !ctx) goto done;
    rc = AES_FAIL;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, aes_key, raw) != 1) goto done;
    if (EVP_DecryptUpdate(ctx, out, &outl, raw + AES_BLOCK, (int)ct_len) != 1) goto done;
    if (EVP_DecryptFinal_ex(ctx, out + outl, &finl) != 1) goto done;
    *plain = out;
    *plain_len = (size_t)outl + (size_t)finl;
    out = NULL;
    rc = AES_OK;
done:
    OPENSSL_cleanse(aes_key, sizeof aes_key);
    EVP_CIPHER_CTX_free(ctx);
    if (out) {
        OPENSSL_cleanse(out, ct_len + AES_BLOCK);
        free(out);
    }
    free(raw);
    return rc;
}

/* wwmsgauditsdk.SdkKeyInfo (proto2): 1 k1 string, 2 pre_len, 3 end_len, 4 s_len int32. */
typedef struct {
    const unsigned char *k1; /* points into the decrypted buffer */
    size_t k1_len;
    int32_t pre_len;
    int32_t end_len;
    int32_t s_len;
} key_info_t;

static bool pb_varint(const unsigned char *p, size_t n, size_t *i, uint64_t *v) {
    uint64_t r = 0;
    for (unsigned k = 0; k < 10; ++k) {
        if (*i >= n) return false;
        unsigned char b = p[(*i)++];
        r |= (uint64_t)(b & 0x7fu) << (7 * k);
        if (!(b & 0x80u)) {
            *v = r;
            return true;
        }
    }
    return false; /* longer than 10 bytes */
}

/* One value of wire type 0, 1, 2 or 5; for 2, *start and *len locate the bytes. */
static bool pb_value(const unsigned char *p, size_t n, size_t *i, unsigned wire, uint64_t *v,
                     size_t *start, size_t *len) {
    switch (wire) {
    case 0: return pb_varint(p, n, i, v);
    case 1:
    case 5: {
        size_t w = wire == 1 ? 8 : 4;
        if (n - *i < w) return false;
        *i += w;
        return true;
    }
    case 2: {
        uint64_t l = 0;
        if (!pb_varint(p, n, i, &l)) return false;
        l &= 0xffffffffu; /* read as a varint32, negative as int32 is an error */
        if (l > (uint64_t)INT32_MAX || l > n - *i) return false;
        *start = *i;
        *len = (size_t)l;
        *i += (size_t)l;
        return true;
    }
    default: return false;
    }
}

/* Skips a group (wire type 3) up to its matching end-group tag. */
static bool pb_skip_group(const unsigned char *p, size_t n, size_t *i, uint32_t number,
                          unsigned depth) {
    if (depth > 100) return false; /* UNCERTAIN: libprotobuf's default recursion limit */
    for (;;) {
        uint64_t tag64 = 0, v = 0;
        size_t start = 0, len = 0;
        if (!pb_varint(p, n, i, &tag64)) return false;
        uint32_t tag = (uint32_t)tag64;
        unsigned wire = tag & 7u;
        if (tag == 0) return false;
        if (wire == 4) return (tag >> 3) == number;
        if (wire == 3) {
            if (!pb_skip_group(p, n, i, tag >> 3, depth + 1)) return false;
        } else if (!pb_value(p, n, i, wire, &v, &start, &len)) {
            return false;
        }
    }
}

static int32_t int32_of(uint64_t v) { return (int32_t)(uint32_t)(v & 0xffffffffu); }

/*
 * Parses like libprotobuf's ParseFromString: unknown fields and known fields of the
 * wrong wire type are skipped, the last occurrence wins; a zero tag, an end-group tag,
 * wire type 6/7 or a truncated value fail. (Checked against the real library with
 * crafted and random SdkKeyInfo bytes.)
 */
static bool parse_key_info(const unsigned char *p, size_t n, key_info_t *info) {
    memset(info, 0, sizeof *info);
    info->k1 = p;
    size_t i = 0;
    while (i < n) {
        uint64_t tag64 = 0, v = 0;
        size_t start = 0, len = 0;
        if (!pb_varint(p, n, &i, &tag64)) return false;
        uint32_t tag = (uint32_t)tag64;
        uint32_t number = tag >> 3;
        unsigned wire = tag & 7u;
        if (tag == 0 || wire == 4) return false;
        if (wire == 3) {
            if (!pb_skip_group(p, n, &i, number, 1)) return false;
            continue;
        }
        if (!pb_value(p, n, &i, wire, &v, &start, &len)) return false;
        if (number == 1 && wire == 2) {
            info->k1 = p + start;
            info->k1_len = len;
        } else if (wire == 0 && number == 2) {
            info->pre_len = int32_of(v);
        } else if (wire == 0 && number == 3) {
            info->end_len = int32_of(v);
        } else if (wire == 0 && number == 4) {
            info->s_len = int32_of(v);
        }
    }
    return true;
}

/* A C int32 expression widened to size_t the way the library compares it. */
static size_t widen(int32_t v) { return (size_t)(int64_t)v; }

static int32_t add32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

/* Tencent's DecryptData body; on RC_OK *plain is malloc'd with one spare byte. */
static int decrypt_own(const char *key, const char *msg, unsigned char **plain, size_t *plain_len) {
    size_t key_len = strlen(key), msg_len = strlen(msg);
    /* 1. W = M[13:45] (std::string(M, 13, 32): throws when M is shorter than 13). */
    if (msg_len < HEAD_JUNK_LEN)
        die_out_of_range("basic_string::basic_string", HEAD_JUNK_LEN, msg_len);
    size_t w_len = msg_len - HEAD_JUNK_LEN < W_LEN ? msg_len - HEAD_JUNK_LEN : W_LEN;
    unsigned char *info_raw = NULL;
    size_t info_len = 0;
    int a = sdk_aes_decrypt((const unsigned char *)msg + HEAD_JUNK_LEN, w_len, key, key_len,
                            &info_raw, &info_len);
    if (a != AES_OK) return a == AES_FAIL ? RC_BAD_KEY : RC_INTERNAL;

    /* 2. SdkKeyInfo and its consistency with the message. */
    int rc = RC_BAD_KEY_INFO;
    char *body = NULL;
    key_info_t info;
    if (!parse_key_info(info_raw, info_len, &info)) goto out;
    if (info.s_len <= 0 || widen(add32(info.s_len, info.s_len)) >= msg_len) goto out;
    size_t head = widen(add32(info.pre_len, HEAD_JUNK_LEN + W_LEN));
    if (head > msg_len) goto out;

    /* 3. Junk: the head, then s_len characters at position s_len, then end_len at the end. */
    const char *rest = msg + head;
    size_t rest_len = msg_len - head;
    size_t s = (size_t)info.s_len;
    if (s > rest_len) die_out_of_range("basic_string::erase", s, rest_len);
    size_t cut = rest_len - s < s ? rest_len - s : s;
    size_t kept = rest_len - cut;
    size_t end = widen(info.end_len);
    if (end > kept) goto out;
    body = malloc(kept + 1);
    if (!body) {
        rc = RC_INTERNAL;
        goto out;
    }
    memcpy(body, rest, s);
    memcpy(body + s, rest + s + cut, rest_len - s - cut);

    /* 4. The body, with k1. */
    a = sdk_aes_decrypt(info.k1, info.k1_len, body, kept - end, plain, plain_len);
    rc = a == AES_OK ? RC_OK : a == AES_FAIL ? RC_DECRYPT : RC_INTERNAL;
out:
    free(body);
    OPENSSL_cleanse(info_raw, info_len);
    free(info_raw);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* WECOM_FAKE_SDK_DECRYPT_LIBRARY: DecryptData served by Tencent's library   */
/* ------------------------------------------------------------------------- */

typedef int (*decrypt_fn)(const char *, const char *, void *);
typedef void *(*new_slice_fn)(void);
typedef void (*free_slice_fn)(void *);
typedef char *(*slice_content_fn)(void *);
typedef int (*slice_len_fn)(void *);

/* Written only while this library is being loaded (by fwd_preload), read-only after. */
static struct {
    bool attempted;
    decrypt_fn decrypt;
    new_slice_fn new_slice;
    free_slice_fn free_slice;
    slice_content_fn content;
    slice_len_fn len;
} g_fwd;
static atomic_bool g_fwd_late_warned;

/*
 * Tencent's library is loaded while this library itself is being loaded, never later:
 * the process has then imported nothing after us, and Tencent's library must come
 * before any C++ extension or its dlopen aborts the process (spec §1.1a; the SDK worker
 * imports its own code only after loading the SDK, ADR 0018). RTLD_LOCAL keeps its
 * exported copies of OpenSSL, libcurl and libstdc++ out of the global scope, so our
 * libcurl and libcrypto and theirs never meet. Never unloaded.
 */
__attribute__((constructor)) static void fwd_preload(void) {
    const char *path = getenv(ENV_DECRYPT_LIBRARY);
    if (!path || !*path) return;
    g_fwd.attempted = true;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "fake WeCom Finance SDK: cannot load %s=%s: %s\n", ENV_DECRYPT_LIBRARY,
                path, dlerror());
        return;
    }
    decrypt_fn decrypt = (decrypt_fn)dlsym(h, "DecryptData");
    new_slice_fn new_slice = (new_slice_fn)dlsym(h, "NewSlice");
    free_slice_fn free_slice = (free_slice_fn)dlsym(h, "FreeSlice");
    slice_content_fn content = (slice_content_fn)dlsym(h, "GetContentFromSlice");
    slice_len_fn len = (slice_len_fn)dlsym(h, "GetSliceLen");
    if (!decrypt || !new_slice || !free_slice || !content || !len) {
        fprintf(stderr, "fake WeCom Finance SDK: %s=%s lacks DecryptData or the slice API\n",
                ENV_DECRYPT_LIBRARY, path);
        return;
    }
    g_fwd.new_slice = new_slice;
    g_fwd.free_slice = free_slice;
    g_fwd.content = content;
    g_fwd.len = len;
    g_fwd.decrypt = decrypt;
}

/* Tencent's DecryptData on a slice of theirs; the bytes copied out; its rc unchanged. */
static int decrypt_forward(const char *key, const char *msg, unsigned char **plain,
                           size_t *plain_len) {
    if (!g_fwd.decrypt) {
        /* Load failure: reported once at load time. Set too late: loading it now could
           abort the process (a C++ extension may be loaded by now), so say so once. */
        if (!g_fwd.attempted && !atomic_exchange(&g_fwd_late_warned, true))
            fprintf(stderr,
                    "fake WeCom Finance SDK: %s was set after the library was loaded; set it "
                    "in the environment of the process that loads the SDK\n",
                    ENV_DECRYPT_LIBRARY);
        return RC_INTERNAL;
    }
    void *slice = g_fwd.new_slice();
    if (!slice) return RC_INTERNAL;
    int rc = g_fwd.decrypt(key, msg, slice);
    if (rc == RC_OK) {
        int n = g_fwd.len(slice);
        char *src = g_fwd.content(slice);
        unsigned char *copy = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (copy) {
            if (n > 0) memcpy(copy, src, (size_t)n);
            *plain = copy;
            *plain_len = (size_t)n;
        } else {
            rc = RC_INTERNAL;
        }
        if (n > 0) OPENSSL_cleanse(src, (size_t)n);
    }
    g_fwd.free_slice(slice);
    return rc;
}

API int DecryptData(const char *encrypt_key, const char *encrypt_msg, Slice_t *msg) {
    /* Tencent's: NULL key or message → 10000. NULL slice: it would crash on success. */
    if (!encrypt_key || !encrypt_msg || !msg) return RC_PARAM;

    bool corrupt = false;
    unsigned long long seq = 0;
    if (fault_lookup(encrypt_msg, &seq)) {
        if (seq_in_env(ENV_CRASH_SEQ, seq)) die_segv();
        corrupt = seq_in_env(ENV_CORRUPT_SEQ, seq);
    }

    unsigned char *plain = NULL;
    size_t plain_len = 0;
    const char *library = getenv(ENV_DECRYPT_LIBRARY);
    int rc = library && *library ? decrypt_forward(encrypt_key, encrypt_msg, &plain, &plain_len)
                                 : decrypt_own(encrypt_key, encrypt_msg, &plain, &plain_len);
    if (rc != RC_OK) return rc;
    if (plain_len > (size_t)INT_MAX - 1) {
        OPENSSL_cleanse(plain, plain_len);
        free(plain);
        return RC_INTERNAL;
    }
    if (corrupt) {
        /* Not JSON: keep the first half, its head overwritten with 0xFF (invalid UTF-8). */
        size_t n = plain_len / 2;
        if (n == 0) n = 1; /* plain has at least one byte of room */
        for (size_t i = 0; i < n && i < 4; ++i) plain[i] = 0xFF;
        plain_len = n;
    }
    slice_take(msg, (char *)plain, plain_len);
    return RC_OK;
}

/* ------------------------------------------------------------------------- */
/* GetMediaData                                                               */
/* ------------------------------------------------------------------------- */

API int GetMediaData(WeWorkFinanceSdk_t *sdk, const char *indexbuf, const char *sdkFileid,
                     const char *proxy, const char *passwd, int timeout,
                     MediaData_t *media_data) {
    unsigned long long call_no = atomic_fetch_add(&g_media_calls, 1) + 1;
    long long crash_after;
    if (env_ll(ENV_MEDIA_CRASH_AFTER, &crash_after) && crash_after >= 0 &&
        call_no > (unsigned long long)crash_after)
        die_segv();

    if (!sdk || !media_data || !sdk->corpid || !sdk->secret) return RC_PARAM;
    if (!sdkFileid || !*sdkFileid) return RC_PARAM;
    if (!indexbuf) indexbuf = "";

    buf_t req = {0};
    buf_append_str(&req, "{\"corpid\":");
    buf_append_json_string(&req, sdk->corpid);
    buf_append_str(&req, ",\"secret\":");
    buf_append_json_string(&req, sdk->secret);
    buf_append_str(&req, ",\"sdkfileid\":");
    buf_append_json_string(&req, sdkFileid);
    buf_append_str(&req, ",\"indexbuf\":");
    buf_append_json_string(&req, indexbuf);
    buf_append_str(&req, "}");
    if (req.failed) {
        buf_free(&req);
        return RC_INTERNAL;
    }

    response_t resp = {0};
    long status = 0;
    int rc =
        http_post(sdk, "/finance/getmediadata", &req, proxy, passwd, timeout, &resp, &status);
    OPENSSL_cleanse(req.data, req.len);
    buf_free(&req);
    if (rc != RC_OK) goto out;
    if (status != 200) {
        rc = resp.has_sdk_rc && resp.sdk_rc != 0 ? (int)resp.sdk_rc : status_rc(status);
        goto out;
    }
    if (!resp.has_finish) {
        rc = RC_PARSE;
        goto out;
    }
    if (resp.body.len > (size_t)INT_MAX - 1 || !buf_reserve(&resp.body, 1)) {
        rc = RC_INTERNAL;
        goto out;
    }
    if (!resp.outindex) {
        resp.outindex = empty_string();
        if (!resp.outindex) {
            rc = RC_INTERNAL;
            goto out;
        }
    }

    long long corrupt = 0;
    if (indexbuf[0] == '\0' && resp.body.len > 0 && env_ll(ENV_MEDIA_CORRUPT_TIMES, &corrupt) &&
        take_times(&g_media_corrupt_chunks, corrupt))
        resp.body.data[0] = (char)(resp.body.data[0] ^ 0xFF);

    free(media_data->data);
    resp.body.data[resp.body.len] = '\0';
    media_data->data = resp.body.data;
    media_data->data_len = (int)resp.body.len;
    resp.body.data = NULL;
    free(media_data->outindexbuf);
    media_data->outindexbuf = resp.outindex;
    media_data->out_len = (int)resp.outindex_len;
    resp.outindex = NULL;
    media_data->is_finish = resp.is_finish;
    rc = RC_OK;
out:
    response_free(&resp);
    return rc;
}
