/*
 * Fake libWeWorkFinanceSdk_C.so for wecom-audit.
 *
 * Exports exactly the C ABI of Tencent's WeCom Finance SDK (WeWorkFinanceSdk_C.h)
 * but talks plain HTTP (libcurl) to the wecom-audit simulator server and decrypts
 * with the simulator's documented cipher. The contract (endpoints, cipher, return
 * codes, fault switches) is docs/fake-sdk.md.
 *
 * Build (see archive/simulator/fakesdk/__init__.py):
 *   cc -std=c11 -O2 -g -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror \
 *      -Wl,-z,defs -o libWeWorkFinanceSdk_C.so fake_finance_sdk.c -lcurl -lcrypto -lpthread
 *
 * Threading: one SDK handle must be used by one thread at a time (it owns one
 * reused CURL easy handle). DecryptData and the Slice/MediaData helpers are
 * thread-safe; the only shared mutable state is the process-wide fault counters
 * (atomics) and the fault table (mutex).
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
    RC_DECRYPT = 10006,
    RC_BAD_KEY = 10008,
};

#define DEFAULT_BASE_URL "http://127.0.0.1:18930"
#define MAX_LIMIT 1000u
#define MAX_KEY_LEN 1024u
#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN 16
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

API char *GetContentFromSlice(Slice_t *slice) { return slice ? slice->buf : NULL; }

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
    return media_data ? media_data->outindexbuf : NULL;
}

API char *GetData(MediaData_t *media_data) { return media_data ? media_data->data : NULL; }

API int GetIndexLen(MediaData_t *media_data) { return media_data ? media_data->out_len : 0; }

API int GetDataLen(MediaData_t *media_data) { return media_data ? media_data->data_len : 0; }

API int IsMediaDataFinish(MediaData_t *media_data) {
    return media_data ? media_data->is_finish : 0;
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
/* DecryptData                                                                */
/* ------------------------------------------------------------------------- */

static bool key_valid(const char *key) {
    if (!key || !*key) return false;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)key; *p; ++p, ++n) {
        if (n >= MAX_KEY_LEN) return false;
        if (*p < 0x20 || *p > 0x7e) return false;
    }
    return true;
}

static bool b64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* Strict standard base64 (padded). Returns a malloc'd buffer or NULL. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *out_len) {
    if (n == 0 || n % 4 != 0 || n > (size_t)INT_MAX) return NULL;
    size_t pad = 0;
    if (s[n - 1] == '=') ++pad;
    if (s[n - 2] == '=') ++pad;
    for (size_t i = 0; i < n - pad; ++i)
        if (!b64_char(s[i])) return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out) return NULL;
    int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (got < 0 || (size_t)got < pad) {
        free(out);
        return NULL;
    }
    *out_len = (size_t)got - pad;
    return out;
}

/* 0 ok (plaintext malloc'd with one spare byte), else an SDK rc. */
static int gcm_decrypt(const char *key, const unsigned char *raw, size_t raw_len,
                       char **plain, size_t *plain_len) {
    unsigned char aes_key[32];
    unsigned char tag[GCM_TAG_LEN];
    unsigned int klen = 0;
    int outl = 0, finl = 0;
    int rc = RC_INTERNAL;
    const unsigned char *nonce = raw;
    const unsigned char *ct = raw + GCM_NONCE_LEN;
    size_t ct_len = raw_len - GCM_NONCE_LEN - GCM_TAG_LEN;
    char *out = malloc(ct_len + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    memcpy(tag, raw + raw_len - GCM_TAG_LEN, GCM_TAG_LEN);

    if (!out || !ctx) goto done;
    if (!EVP_Digest(key, strlen(key), aes_key, &klen, EVP_sha256(), NULL) || klen != 32)
        goto done;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE_LEN, NULL) != 1) goto done;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, aes_key, nonce) != 1) goto done;
    if (ct_len > 0 &&
        EVP_DecryptUpdate(ctx, (unsigned char *)out, &outl, ct, (int)ct_len) != 1) {
        rc = RC_DECRYPT;
        goto done;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag) != 1) goto done;
    if (EVP_DecryptFinal_ex(ctx, (unsigned char *)out + outl, &finl) <= 0) {
        rc = RC_DECRYPT;
        goto done;
    }
    *plain = out;
    *plain_len = (size_t)outl + (size_t)finl;
    out = NULL;
    rc = RC_OK;
done:
    OPENSSL_cleanse(aes_key, sizeof aes_key);
    EVP_CIPHER_CTX_free(ctx);
    if (out) {
        OPENSSL_cleanse(out, ct_len);
        free(out);
    }
    return rc;
}

API int DecryptData(const char *encrypt_key, const char *encrypt_msg, Slice_t *msg) {
    if (!msg) return RC_PARAM;
    if (!key_valid(encrypt_key)) return RC_BAD_KEY;
    if (!encrypt_msg || !*encrypt_msg) return RC_DECRYPT;

    bool corrupt = false;
    unsigned long long seq = 0;
    if (fault_lookup(encrypt_msg, &seq)) {
        if (seq_in_env(ENV_CRASH_SEQ, seq)) die_segv();
        corrupt = seq_in_env(ENV_CORRUPT_SEQ, seq);
    }

    size_t raw_len = 0;
    unsigned char *raw = b64_decode(encrypt_msg, strlen(encrypt_msg), &raw_len);
    if (!raw) return RC_DECRYPT;
    if (raw_len < GCM_NONCE_LEN + GCM_TAG_LEN || raw_len - GCM_NONCE_LEN - GCM_TAG_LEN >
                                                     (size_t)INT_MAX - 1) {
        free(raw);
        return RC_DECRYPT;
    }
    char *plain = NULL;
    size_t plain_len = 0;
    int rc = gcm_decrypt(encrypt_key, raw, raw_len, &plain, &plain_len);
    free(raw);
    if (rc != RC_OK) return rc;

    if (corrupt) {
        /* Not JSON: keep the first half, its head overwritten with 0xFF (invalid UTF-8). */
        size_t n = plain_len / 2;
        if (n == 0) n = 1; /* plain has at least one byte of room */
        for (size_t i = 0; i < n && i < 4; ++i) plain[i] = (char)0xFF;
        plain_len = n;
    }
    slice_take(msg, plain, plain_len);
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
