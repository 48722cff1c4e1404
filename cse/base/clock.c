#include "clock.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t fixed_now;

int64_t clock_now_us(void)
{
    if (fixed_now) return fixed_now;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void clock_set_fixed(int64_t us) { fixed_now = us; }

void ts_format(int64_t us, ts_buf out)
{
    time_t sec = (time_t)(us / 1000000);
    int frac = (int)(us % 1000000);
    if (frac < 0) { frac += 1000000; sec--; }
    /* The calendar fields of the last second asked for: gmtime_r costs
     * more than the rest, and most calls of a request fall in one second. */
    static _Thread_local bool known;
    static _Thread_local time_t last_sec;
    static _Thread_local struct tm last_tm;
    if (!known || sec != last_sec) {
        gmtime_r(&sec, &last_tm);
        last_sec = sec;
        known = true;
    }
    struct tm tm = last_tm;
    /* Fields are range-bound by gmtime; the year is clamped to four digits. */
    unsigned y = (unsigned)(tm.tm_year + 1900) % 10000u;
    /* Written digit by digit: snprintf cost more than the rest of a
     * RETRIEVE's bookkeeping (this runs several times per request). */
    const struct { unsigned value; int width; char after; } parts[] = {
        { y, 4, 0 }, { (unsigned)(tm.tm_mon + 1) % 100u, 2, 0 }, { (unsigned)tm.tm_mday % 100u, 2, 'T' },
        { (unsigned)tm.tm_hour % 100u, 2, 0 }, { (unsigned)tm.tm_min % 100u, 2, 0 },
        { (unsigned)tm.tm_sec % 100u, 2, ',' }, { (unsigned)frac % 1000000u, 6, 0 },
    };
    char *p = out;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        unsigned v = parts[i].value;
        for (int d = parts[i].width - 1; d >= 0; d--, v /= 10) p[d] = (char)('0' + v % 10);
        p += parts[i].width;
        if (parts[i].after) *p++ = parts[i].after;
    }
    *p = 0;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

bool ts_parse(const char *s, int64_t *us)
{
    if (!s || strlen(s) < 15 || s[8] != 'T') return false;
    int y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
    int h = digits(s + 9, 2), mi = digits(s + 11, 2), se = digits(s + 13, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 60 || d > days_in_month(y, mo))
        return false;
    int frac = 0;
    const char *p = s + 15;
    if (*p == ',' || *p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)p[n])) n++;
        if (n < 1 || n > 6) return false;
        frac = digits(p, n);
        for (int i = n; i < 6; i++) frac *= 10;
        p += n;
    }
    if (*p == 'Z') p++; /* tolerated: the format is UTC anyway */
    if (*p) return false;
    /* Days from civil (proleptic Gregorian), no timezone involved. */
    int yy = y - (mo <= 2);
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    *us = ((days * 86400) + h * 3600 + mi * 60 + se) * 1000000LL + frac;
    return true;
}

bool ts_canonical(const char *s, ts_buf out)
{
    int64_t us;
    if (!ts_parse(s, &us)) return false;
    ts_format(us, out);
    return true;
}

bool ts_parse_absrel(const char *s, int64_t now_us, int64_t *us)
{
    if (!s || !*s) return false;
    const char *p = s;
    bool all_digits = true;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p)) { all_digits = false; break; }
    /* All digits means relative milliseconds (a timestamp always has a 'T'). */
    if (all_digits && strlen(s) <= 15) {
        *us = now_us + strtoll(s, NULL, 10) * 1000;
        return true;
    }
    return ts_parse(s, us);
}

bool duration_parse(const char *s, int64_t *us)
{
    if (!s || *s != 'P') return false;
    const char *p = s + 1;
    bool in_time = false, any = false;
    double total = 0;
    while (*p) {
        if (*p == 'T') { if (in_time) return false; in_time = true; p++; continue; }
        char *end;
        double v = strtod(p, &end);
        if (end == p || v < 0) return false;
        double unit;
        switch (*end) {
        case 'Y': if (in_time) return false; unit = 365.0 * 86400; break;
        case 'M': unit = in_time ? 60 : 30.0 * 86400; break;
        case 'W': if (in_time) return false; unit = 7.0 * 86400; break;
        case 'D': if (in_time) return false; unit = 86400; break;
        case 'H': if (!in_time) return false; unit = 3600; break;
        case 'S': if (!in_time) return false; unit = 1; break;
        default: return false;
        }
        total += v * unit;
        any = true;
        p = end + 1;
    }
    if (!any || total > 9.2e12) return false;
    *us = (int64_t)(total * 1e6);
    return true;
}
