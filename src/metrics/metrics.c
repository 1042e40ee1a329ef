#include "metrics/metrics.h"

#include <errno.h>
#include <string.h>

uint64_t metric_value(const struct metric *m, metric_bases b)
{
	return m->get ? m->get(b) : metric_load(b[m->src], m->off);
}

void metrics_json(FILE *out, const struct metric *tab, size_t n, metric_bases b, bool first)
{
	for (size_t i = 0; i < n; i++) {
		if (!tab[i].json)
			continue;
		fprintf(out, "%s\"%s\":%llu", first ? "" : ",", tab[i].json,
		        (unsigned long long)metric_value(&tab[i], b));
		first = false;
	}
}

void metrics_table_header(FILE *out, const struct metric *tab, size_t n)
{
	fprintf(out, "%-6s", "worker");
	for (size_t i = 0; i < n; i++)
		if (tab[i].col)
			fprintf(out, " %*s", tab[i].colw, tab[i].col);
	fputc('\n', out);
}

void metrics_table_row(FILE *out, const struct metric *tab, size_t n, unsigned worker, metric_bases b)
{
	fprintf(out, "%-6u", worker);
	for (size_t i = 0; i < n; i++) {
		if (!tab[i].col)
			continue;
		uint64_t v = metric_value(&tab[i], b);
		if (tab[i].tenths)
			fprintf(out, " %*.1f", tab[i].colw, (double)v / 10.0);
		else
			fprintf(out, " %*llu", tab[i].colw, (unsigned long long)v);
	}
	fputc('\n', out);
}

static const char *kind_name(enum metric_kind k)
{
	return k == METRIC_COUNTER ? "counter" : k == METRIC_GAUGE ? "gauge" : "histogram";
}

void metrics_prom_head(FILE *out, const char *name, enum metric_kind kind, const char *help)
{
	/* HELP text escapes backslash and newline only */
	fprintf(out, "# HELP %s ", name);
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", out);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fputc(*p, out);
	}
	fprintf(out, "\n# TYPE %s %s\n", name, kind_name(kind));
}

void metrics_prom_sample(FILE *out, const char *name, const char *labels, uint64_t v)
{
	if (labels && labels[0])
		fprintf(out, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
	else
		fprintf(out, "%s %llu\n", name, (unsigned long long)v);
}

void metrics_prom_escape(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' || s[i] == '"')
			fputc('\\', out), fputc(s[i], out);
		else if (s[i] == '\n')
			fputs("\\n", out);
		else
			fputc(s[i], out);
	}
}

/* A histogram summed over the workers, as cumulative _bucket samples with
 * le labels, then _sum and _count. */
static void prom_hist(FILE *out, const struct metric *m, unsigned nw, metric_bases_fn bases, void *ctx)
{
	const struct metric_hist *h = m->hist;
	uint64_t cum = 0, sum = 0;
	const char *sep = m->labels[0] ? "," : "";
	for (unsigned k = 0; k <= h->nb + 1; k++) {
		uint64_t v = 0;
		for (unsigned w = 0; w < nw; w++)
			v += metric_load(bases(ctx, w)[m->src], m->off + k * sizeof(uint64_t));
		if (k == h->nb + 1) {
			sum = v;
			break;
		}
		cum += v;
		if (k < h->nb)
			fprintf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", m->name, m->labels, sep,
			        (double)h->bounds[k] / h->scale, (unsigned long long)cum);
		else
			fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", m->name, m->labels, sep,
			        (unsigned long long)cum);
	}
	fprintf(out, "%s_sum%s%s%s ", m->name, m->labels[0] ? "{" : "", m->labels, m->labels[0] ? "}" : "");
	/* exact for the integer scales used (no 0.558000000001) */
	if (h->scale == 1.0)
		fprintf(out, "%llu\n", (unsigned long long)sum);
	else if (h->scale == 1000.0)
		fprintf(out, "%llu.%03llu\n", (unsigned long long)(sum / 1000),
		        (unsigned long long)(sum % 1000));
	else
		fprintf(out, "%.17g\n", (double)sum / h->scale);
	fprintf(out, "%s_count%s%s%s %llu\n", m->name, m->labels[0] ? "{" : "", m->labels,
	        m->labels[0] ? "}" : "", (unsigned long long)cum);
}

void metrics_prom(FILE *out, const struct metric *tab, size_t n, unsigned nw, metric_bases_fn bases,
                  void *ctx)
{
	const char *family = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct metric *m = &tab[i];
		if (!m->name)
			continue;
		if (!family || strcmp(family, m->name) != 0) {
			metrics_prom_head(out, m->name, m->kind, m->help);
			family = m->name;
		}
		if (m->kind == METRIC_HISTOGRAM) {
			prom_hist(out, m, nw, bases, ctx);
			continue;
		}
		uint64_t v = 0;
		for (unsigned w = 0; w < nw; w++)
			v += metric_value(m, bases(ctx, w));
		metrics_prom_sample(out, m->name, m->labels, v);
	}
}

static bool valid_name(const char *s)
{
	if (!s[0] ||
	    !(s[0] == '_' || s[0] == ':' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (const char *p = s; *p; p++)
		if (!(*p == '_' || *p == ':' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

#define BAD(...)                                                                                             \
	do {                                                                                                 \
		if (err)                                                                                     \
			fprintf(err, __VA_ARGS__);                                                           \
		return -EINVAL;                                                                              \
	} while (0)

int metrics_check(const struct metric *tab, size_t n, FILE *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct metric *m = &tab[i];
		const char *id = m->name ? m->name : m->json ? m->json : "?";
		if (!m->name && !m->json && !m->col)
			BAD("entry %zu: exported nowhere\n", i);
		if (!m->help || !m->help[0])
			BAD("%s: no help\n", id);
		if (!m->labels)
			BAD("%s: labels must be \"\" when there are none\n", id);
		if (m->kind == METRIC_HISTOGRAM &&
		    (!m->hist || !m->hist->nb || m->hist->scale <= 0 || m->json))
			BAD("%s: a histogram needs bounds and a scale, and has no JSON key\n", id);
		if (m->hist && m->kind != METRIC_HISTOGRAM)
			BAD("%s: bounds on a non-histogram\n", id);
		if (m->hist)
			for (unsigned k = 1; k < m->hist->nb; k++)
				if (m->hist->bounds[k] <= m->hist->bounds[k - 1])
					BAD("%s: bounds not increasing\n", id);
		if (m->name) {
			if (!valid_name(m->name))
				BAD("%s: not a valid metric name\n", id);
			if (!m->compat && strncmp(m->name, "tern_", 5) != 0)
				BAD("%s: tern's own names start with tern_\n", id);
			if (!m->compat && m->kind == METRIC_COUNTER && !ends_with(m->name, "_total"))
				BAD("%s: a counter's name ends in _total\n", id);
			if (!m->compat && m->kind != METRIC_COUNTER && ends_with(m->name, "_total"))
				BAD("%s: only counters end in _total\n", id);
		}
		if (m->json && !valid_name(m->json))
			BAD("%s: JSON key '%s' is not a plain identifier\n", id, m->json);
		for (size_t j = 0; j < i; j++) {
			const struct metric *o = &tab[j];
			if (m->name && o->name && strcmp(m->name, o->name) == 0) {
				if (strcmp(m->labels, o->labels) == 0)
					BAD("%s{%s}: declared twice\n", id, m->labels);
				if (o->kind != m->kind || strcmp(o->help, m->help) != 0)
					BAD("%s: one family with two kinds or helps\n", id);
				if (j != i - 1 && !(tab[i - 1].name && strcmp(tab[i - 1].name, m->name) == 0))
					BAD("%s: a family's entries must be adjacent\n", id);
			}
			if (m->json && o->json && strcmp(m->json, o->json) == 0)
				BAD("JSON key '%s' declared twice\n", m->json);
			if (m->col && o->col && strcmp(m->col, o->col) == 0)
				BAD("column '%s' declared twice\n", m->col);
		}
	}
	return 0;
}
