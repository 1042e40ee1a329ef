#include "net/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

struct ticket_key {
	uint8_t name[16];
	uint8_t aes[32];
	uint8_t hmac[32];
	time_t born;
};

struct tls_server {
	/* options, copied: a reload reads the same paths again */
	char *cert, *pkey, *pkey_pwd, *cipher_list, *ec_curve, *dh_file, *ca_file;
	bool tls13_only, dtls;
	pthread_mutex_t lock; /* ctx, dctx, and the ticket keys */
	SSL_CTX *ctx;
	SSL_CTX *dctx; /* DTLS, or NULL */
	uint8_t cookie_key[32];
	_Atomic uint32_t gen;
	struct ticket_key keys[2]; /* [0] current, [1] previous */
};

const char *tls_last_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (!e)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* ---- session tickets ---- */

static int ticket_key_new(struct ticket_key *k)
{
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
		return -EIO;
	k->born = time(NULL);
	return 0;
}

static int ticket_mac_init(EVP_MAC_CTX *mac, const uint8_t *key)
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end(),
	};
	return EVP_MAC_init(mac, key, 32, params);
}

/* OpenSSL's ticket callback: enc = 1 to issue a ticket (current key), 0 to
 * open one (1: good, 2: good but issue a fresh one, 0: unknown key: full
 * handshake). Runs in worker threads during handshakes only. */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cipher,
                     EVP_MAC_CTX *mac, int enc)
{
	struct tls_server *s = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	struct ticket_key k;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (time(NULL) - s->keys[0].born >= TLS_TICKET_ROTATE_S) {
		struct ticket_key fresh;
		if (ticket_key_new(&fresh) == 0) {
			s->keys[1] = s->keys[0];
			s->keys[0] = fresh;
		}
	}
	if (enc) {
		k = s->keys[0];
		rc = 1;
	} else if (memcmp(name, s->keys[0].name, 16) == 0) {
		k = s->keys[0];
		rc = 1;
	} else if (memcmp(name, s->keys[1].name, 16) == 0) {
		k = s->keys[1];
		rc = 2; /* an older key: renew the ticket */
	}
	pthread_mutex_unlock(&s->lock);
	if (!rc)
		return 0;
	if (enc) {
		memcpy(name, k.name, 16);
		if (RAND_bytes(iv, 16) != 1 ||
		    !EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, k.aes, iv))
			rc = -1;
	} else if (!EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, k.aes, iv)) {
		rc = -1;
	}
	if (rc > 0 && !ticket_mac_init(mac, k.hmac))
		rc = -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* ---- DTLS cookies ---- */

static int peer_index = -1;
static pthread_once_t peer_once = PTHREAD_ONCE_INIT;

static void peer_index_new(void)
{
	peer_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

void tls_dtls_set_peer(SSL *ssl, const union tern_addr *peer)
{
	pthread_once(&peer_once, peer_index_new);
	SSL_set_ex_data(ssl, peer_index, (void *)peer);
}

#define COOKIE_EPOCH_S 64
#define COOKIE_LEN     17 /* epoch byte + 16 bytes of HMAC-SHA256 */

static bool cookie_make(const struct tls_server *s, const union tern_addr *peer, uint8_t epoch,
                        uint8_t out[COOKIE_LEN])
{
	uint8_t msg[1 + sizeof(struct sockaddr_in6)], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	size_t n = addr_len(peer);
	msg[0] = epoch;
	memcpy(msg + 1, &peer->sa, n);
	if (!HMAC(EVP_sha256(), s->cookie_key, sizeof(s->cookie_key), msg, 1 + n, mac, &maclen) ||
	    maclen < 16)
		return false;
	out[0] = epoch;
	memcpy(out + 1, mac, 16);
	return true;
}

static int cookie_gen_cb(SSL *ssl, unsigned char *cookie, unsigned int *len)
{
	struct tls_server *s = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const union tern_addr *peer = SSL_get_ex_data(ssl, peer_index);
	if (!peer || !cookie_make(s, peer, (uint8_t)(time(NULL) / COOKIE_EPOCH_S), cookie))
		return 0;
	*len = COOKIE_LEN;
	return 1;
}

static int cookie_verify_cb(SSL *ssl, const unsigned char *cookie, unsigned int len)
{
	struct tls_server *s = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const union tern_addr *peer = SSL_get_ex_data(ssl, peer_index);
	uint8_t want[COOKIE_LEN], now = (uint8_t)(time(NULL) / COOKIE_EPOCH_S);
	if (!peer || len != COOKIE_LEN || (cookie[0] != now && cookie[0] != (uint8_t)(now - 1)))
		return 0;
	return cookie_make(s, peer, cookie[0], want) && CRYPTO_memcmp(want, cookie, COOKIE_LEN) == 0;
}

/* ---- the context ---- */

/* RFC 7443: a client that offers ALPN offers "stun.turn" (also
 * "stun.nat-discovery" for STUN alone); one that offers neither is served
 * without ALPN rather than refused (browsers offer none for turns:). */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x09stun.turn\x12stun.nat-discovery";
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int pwd_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pwd = u;
	int n = (int)strlen(pwd);
	if (n >= size)
		return -1;
	memcpy(buf, pwd, (size_t)n);
	return n;
}

#define FAIL(...)                                                                                            \
	do {                                                                                                 \
		snprintf(err, errlen, __VA_ARGS__);                                                          \
		goto fail;                                                                                   \
	} while (0)

static SSL_CTX *ctx_build(struct tls_server *s, bool dtls, char *err, size_t errlen)
{
	char why[160];
	SSL_CTX *ctx = SSL_CTX_new(dtls ? DTLS_server_method() : TLS_server_method());
	if (!ctx)
		FAIL("TLS: cannot create a context: %s", tls_last_error(why, sizeof(why)));
	/* TLS 1.2 at least (RFC 8996 retires 1.0 and 1.1); no-tlsv1_2: 1.3
	 * only. DTLS: 1.2 (OpenSSL 3.0 has no DTLS 1.3). */
	if (dtls) {
		SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
		SSL_CTX_set_cookie_generate_cb(ctx, cookie_gen_cb);
		SSL_CTX_set_cookie_verify_cb(ctx, cookie_verify_cb);
		SSL_CTX_set_options(ctx, SSL_OP_COOKIE_EXCHANGE | SSL_OP_NO_QUERY_MTU);
	} else {
		SSL_CTX_set_min_proto_version(ctx, s->tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
	}
	/* renegotiation off (a client-driven CPU sink); the server's cipher
	 * order; compression off (CRIME) */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_NO_COMPRESSION);
	/* non-blocking writes of a buffer that may move between retries;
	 * read and write buffers released while a connection is idle */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                          SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_app_data(ctx, s);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	SSL_CTX_set_timeout(ctx, 2 * TLS_TICKET_ROTATE_S);
	/* tickets carry the state: no server-side session cache to grow */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);

	if (s->pkey_pwd[0]) {
		SSL_CTX_set_default_passwd_cb(ctx, pwd_cb);
		SSL_CTX_set_default_passwd_cb_userdata(ctx, s->pkey_pwd);
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, s->cert) != 1)
		FAIL("cert '%s': cannot load the certificate: %s", s->cert, tls_last_error(why, sizeof(why)));
	if (SSL_CTX_use_PrivateKey_file(ctx, s->pkey, SSL_FILETYPE_PEM) != 1)
		FAIL("pkey '%s': cannot load the private key%s: %s", s->pkey,
		     s->pkey_pwd[0] ? " (with pkey-pwd)" : "", tls_last_error(why, sizeof(why)));
	if (SSL_CTX_check_private_key(ctx) != 1)
		FAIL("pkey '%s' does not match cert '%s'", s->pkey, s->cert);
	if (s->cipher_list[0] && SSL_CTX_set_cipher_list(ctx, s->cipher_list) != 1)
		FAIL("cipher-list '%s': no usable cipher: %s", s->cipher_list,
		     tls_last_error(why, sizeof(why)));
	if (s->ec_curve[0] && SSL_CTX_set1_groups_list(ctx, s->ec_curve) != 1)
		FAIL("ec-curve-name '%s': unknown curve: %s", s->ec_curve, tls_last_error(why, sizeof(why)));
	if (s->dh_file[0]) {
		BIO *b = BIO_new_file(s->dh_file, "r");
		EVP_PKEY *dh = b ? PEM_read_bio_Parameters(b, NULL) : NULL;
		BIO_free(b);
		if (!dh || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
			EVP_PKEY_free(dh);
			FAIL("dh-file '%s': cannot load DH parameters: %s", s->dh_file,
			     tls_last_error(why, sizeof(why)));
		}
	} else {
		SSL_CTX_set_dh_auto(ctx, 1);
	}
	if (s->ca_file[0]) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->ca_file);
		if (!names || SSL_CTX_load_verify_locations(ctx, s->ca_file, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			FAIL("CA-file '%s': cannot load CA certificates: %s", s->ca_file,
			     tls_last_error(why, sizeof(why)));
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static char *dup_opt(const char *v)
{
	return strdup(v ? v : "");
}

int tls_server_new(const struct tls_opts *o, struct tls_server **out, char *err, size_t errlen)
{
	struct tls_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->cert = dup_opt(o->cert);
	s->pkey = dup_opt(o->pkey);
	s->pkey_pwd = dup_opt(o->pkey_pwd);
	s->cipher_list = dup_opt(o->cipher_list);
	s->ec_curve = dup_opt(o->ec_curve);
	s->dh_file = dup_opt(o->dh_file);
	s->ca_file = dup_opt(o->ca_file);
	s->tls13_only = o->tls13_only;
	int rc = -ENOMEM;
	if (!s->cert || !s->pkey || !s->pkey_pwd || !s->cipher_list || !s->ec_curve || !s->dh_file ||
	    !s->ca_file) {
		snprintf(err, errlen, "TLS: out of memory");
		goto fail;
	}
	if (ticket_key_new(&s->keys[0]) < 0 || ticket_key_new(&s->keys[1]) < 0) {
		snprintf(err, errlen, "TLS: no random bytes for session ticket keys");
		rc = -EIO;
		goto fail;
	}
	s->dtls = o->dtls;
	if (RAND_bytes(s->cookie_key, sizeof(s->cookie_key)) != 1) {
		snprintf(err, errlen, "TLS: no random bytes for DTLS cookies");
		rc = -EIO;
		goto fail;
	}
	s->ctx = ctx_build(s, false, err, errlen);
	if (s->ctx && s->dtls)
		s->dctx = ctx_build(s, true, err, errlen);
	if (!s->ctx || (s->dtls && !s->dctx)) {
		rc = -EINVAL;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	tls_server_free(s);
	return rc;
}

int tls_server_reload(struct tls_server *s, char *err, size_t errlen)
{
	SSL_CTX *ctx = ctx_build(s, false, err, errlen);
	SSL_CTX *dctx = ctx && s->dtls ? ctx_build(s, true, err, errlen) : NULL;
	if (!ctx || (s->dtls && !dctx)) {
		SSL_CTX_free(ctx);
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	SSL_CTX *old = s->ctx, *dold = s->dctx;
	s->ctx = ctx;
	s->dctx = dctx;
	atomic_fetch_add_explicit(&s->gen, 1, memory_order_release);
	pthread_mutex_unlock(&s->lock);
	/* connections and workers still holding them keep their reference */
	SSL_CTX_free(old);
	SSL_CTX_free(dold);
	return 0;
}

uint32_t tls_server_gen(const struct tls_server *s)
{
	return atomic_load_explicit(&s->gen, memory_order_acquire);
}

SSL_CTX *tls_server_ctx(struct tls_server *s, uint32_t *gen, bool dtls)
{
	pthread_mutex_lock(&s->lock);
	SSL_CTX *ctx = dtls ? s->dctx : s->ctx;
	if (ctx)
		SSL_CTX_up_ref(ctx);
	*gen = atomic_load_explicit(&s->gen, memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
	return ctx;
}

void tls_server_free(struct tls_server *s)
{
	if (!s)
		return;
	SSL_CTX_free(s->ctx);
	SSL_CTX_free(s->dctx);
	OPENSSL_cleanse(s->keys, sizeof(s->keys));
	OPENSSL_cleanse(s->cookie_key, sizeof(s->cookie_key));
	if (s->pkey_pwd)
		OPENSSL_cleanse(s->pkey_pwd, strlen(s->pkey_pwd));
	free(s->cert);
	free(s->pkey);
	free(s->pkey_pwd);
	free(s->cipher_list);
	free(s->ec_curve);
	free(s->dh_file);
	free(s->ca_file);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- the first bytes ---- */

/* A TLS record starts with content type 22 (handshake). STUN's first
 * byte is the top of its message type, 0x00-0x3F, and 0x16 there would be
 * a method above 0x580, which no one defines; ChannelData starts at 0x40.
 * So one byte tells (and peeking one byte never leaves a client that sent
 * one byte spinning the loop); OpenSSL judges the rest. */
enum tls_sniff tls_sniff(const uint8_t *b, size_t len)
{
	if (len == 0)
		return TLS_SNIFF_MORE;
	return b[0] == 0x16 ? TLS_SNIFF_TLS : TLS_SNIFF_OTHER;
}
