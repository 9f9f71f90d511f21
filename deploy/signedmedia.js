/*
 * Signed media URLs, checked by nginx itself (issue 11, delivery mode "nginx" with local files).
 *
 * The format is downloads/signedmedia.py's (read its docstring; keep the two in step):
 *     /m/<payload>.<signature>
 *     signature = base64url(HMAC-SHA256(media key, payload text)), no padding
 *     payload   = base64url(JSON {d f h k m n t x}), no padding
 *
 * The app decided who may see the file when it signed the URL; here nothing asks the app. A URL
 * is served only when its signature holds under one of the media keys (the current one first,
 * then those derived from SECRET_KEY_FALLBACKS), it has not expired, its storage key is a plain
 * relative path, and the file at that key still has the signed size (new bytes are stored under
 * a new key, so a replaced file's old URLs name bytes that are gone). Anything else is one 403
 * with a short body and never a byte of a file: a client learns nothing from trying.
 *
 * An accepted URL is answered like the checked download (downloads/delivery/headers.py):
 * 304 and 412 for its preconditions, 416 for a Range nothing of the file satisfies, and the
 * ranges to send, merged and sorted, decided here with the app's rules (downloads/http/); the
 * bytes, with Range and multipart ranges, are sent by nginx's static module from an internal
 * location (nginx.conf.template), which adds the ETag and Last-Modified this script puts in
 * $signed_media_* variables. A request nginx would answer otherwise as it came (an If-Match or
 * If-Unmodified-Since that passed, which the static module would check against its own
 * validators; ranges the app merges or sorts, which nginx sends as written) goes round once
 * more as the decision: without those headers, with the ranges to send as its Range.
 *
 * From nginx.conf: $signed_media_keys (the hex keys, space-separated, from a file only nginx's
 * master reads), $signed_media_root (MEDIA_ROOT), $signed_media_prefix (the internal
 * locations' prefix), $signed_media_max_ranges (DOWNLOADS_MAX_RANGES),
 * $signed_media_conditional (empty when no precondition or Range header came). Written here
 * for the internal locations and the access log: $signed_media_file, $signed_media_verdict,
 * $signed_media_etag, $signed_media_last_modified, $signed_media_csp, $signed_media_range.
 */

import fs from 'fs';
import crypto from 'crypto';

// Only strings and numbers at the top level: njs copies the module's objects into every
// request's VM, and a handful of top-level RegExp and arrays halved the requests/s of a 1 KiB
// file (bench/signed_nginx.py). Patterns are literals where they are used.
const URL_PREFIX = '/m/';
const FIELD_COUNT = 8;
// The app's bounds on a token (downloads/signedmedia.py).
const MAX_PAYLOAD = 6144;
const SIGNATURE_LENGTH = 43;
const MAX_KEY_LENGTH = 1024;
const INLINE_CSP = 'sandbox';
const CACHE_CONTROL = 'private, no-cache';
const REFUSED_BODY = 'This media link is not valid or has expired.\n';

function serve(r) {
    if (r.method !== 'GET' && r.method !== 'HEAD') {
        r.variables.signed_media_verdict = 'method';
        r.headersOut['Allow'] = 'GET, HEAD';
        plain(r, 405, 'Method Not Allowed\n', 'no-store');
        return;
    }
    const media = verified(r.uri.startsWith(URL_PREFIX) ? r.uri.slice(URL_PREFIX.length) : '',
                           r.variables.signed_media_keys);
    if (typeof media === 'string') {
        refuse(r, media);
        return;
    }
    // Logged only once the signature holds: before that the id is whatever a client wrote.
    r.variables.signed_media_file = media.f;
    if (Math.floor(Date.now() / 1000) >= media.x) {
        refuse(r, 'expired');
        return;
    }
    if (!media.safeKey) {
        refuse(r, 'unsafe-key');
        return;
    }
    let stat;
    try {
        stat = fs.statSync(r.variables.signed_media_root + '/' + media.k);
    } catch (e) {
        refuse(r, 'missing');
        return;
    }
    if (!stat.isFile() || stat.size !== media.n) {
        refuse(r, 'replaced');
        return;
    }

    const etag = '"' + media.h + '"';
    const lastModified = httpDate(media.m);
    r.variables.signed_media_etag = etag;
    r.variables.signed_media_last_modified = lastModified;
    // Most requests carry no precondition and no Range: nginx says so in one variable (a map
    // over those headers), where reading each header here costs about half a microsecond.
    let ranges = null;
    if (r.variables.signed_media_conditional !== '') {
        const settled = preconditionStatus(r.headersIn, etag, media.m);
        if (settled !== null) {
            r.variables.signed_media_verdict = String(settled);
            validatorHeaders(r, etag, lastModified);
            r.status = settled;
            r.sendHeader();
            r.finish();
            return;
        }

        if (r.method === 'GET' && ifRangeAllows(r.headersIn['If-Range'], etag, media.m)) {
            ranges = parseRange(r.headersIn['Range'], media.n,
                                Number(r.variables.signed_media_max_ranges));
        }
        if (ranges === 'unsatisfiable') {
            r.variables.signed_media_verdict = '416';
            validatorHeaders(r, etag, lastModified);
            r.headersOut['Content-Range'] = 'bytes */' + media.n;
            plain(r, 416, 'Range Not Satisfiable\n', CACHE_CONTROL);
            return;
        }
        if (present(r.headersIn['If-Match']) !== null
            || present(r.headersIn['If-Unmodified-Since']) !== null
            || (ranges !== null && !nginxAgrees(r.headersIn, ranges, media.n, etag, lastModified))) {
            // Decided here, but nginx would answer the request as it came otherwise: it checks
            // If-Match and If-Unmodified-Since against its own validators, and sends each range as
            // written (unmerged, unsorted). So it comes round once more as the decision: none of
            // those headers, and the ranges to send, merged and sorted, as its only Range.
            r.variables.signed_media_verdict = 'relayed';
            r.variables.signed_media_range = ranges === null ? '' : rangeHeader(ranges);
            r.internalRedirect('@signed_media_decided');
            return;
        }
    }
    r.variables.signed_media_verdict = 'served';
    // Content-Type and these headers survive the internal redirect (as an X-Accel-Redirect's
    // do); the ETag and Last-Modified are added by the location, where nginx's Range filter
    // checks If-Range against them.
    r.headersOut['Content-Type'] = media.t;
    r.headersOut['Content-Disposition'] = media.d;
    r.headersOut['Cache-Control'] = CACHE_CONTROL;
    r.headersOut['Accept-Ranges'] = 'bytes';
    r.variables.signed_media_csp = media.d.startsWith('inline') ? INLINE_CSP : '';
    r.internalRedirect(r.variables.signed_media_prefix
                       + (ranges === null ? 'signed/file/' : 'signed/ranges/') + media.k);
}

/* The signed fields of `token` if it holds under one of `keys` (hex, space-separated); else
 * the reason it is refused, as a string. Its expiry and its key are the caller's to check. */
function verified(token, keys) {
    // The bounds first, before anything is hashed or decoded: a payload of at most MAX_PAYLOAD
    // characters, a dot, a signature of 43. The grammar of each is not checked here: only a
    // payload and a signature this app made pass the signature check, and a regular
    // expression over the whole token cost more than a microsecond of every answer.
    const dot = token.length - SIGNATURE_LENGTH - 1;
    if (dot < 1 || dot > MAX_PAYLOAD || token.charCodeAt(dot) !== 46) {  // '.'
        return 'malformed';
    }
    const payload = token.slice(0, dot);
    const signature = token.slice(dot + 1);
    const hexKeys = (keys || '').split(' ');
    let signed = false;
    for (let i = 0; i < hexKeys.length; i++) {
        if (hexKeys[i] !== '' && sameSignature(Buffer.from(hexKeys[i], 'hex'), payload, signature)) {
            signed = true;
        }
    }
    if (!signed) {
        // Only a refused URL pays for the grammar, to say why (as the app's checker).
        return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token) ? 'signature' : 'malformed';
    }
    const media = decoded(payload);
    if (media === null) {
        return 'undecodable';
    }
    return media;
}

/* Whether `signature` is the payload's, compared in constant time by comparing HMACs of the
 * two (the "double HMAC" comparison): how long === takes on those says nothing a client can
 * use, as it cannot choose what they start with. A loop over the characters would do the same
 * in njs's interpreter at a third of the requests/s of a small file, and WebCrypto's
 * crypto.subtle (its HMAC verify compares with memcmp) took longer through its promises than
 * these three (bench/njs_costs.py). */
function sameSignature(key, payload, signature) {
    const expected = crypto.createHmac('sha256', key).update(payload).digest('base64url');
    return crypto.createHmac('sha256', key).update(expected).digest('base64url')
        === crypto.createHmac('sha256', key).update(signature).digest('base64url');
}

/* The payload's fields, or null if it is not the format (only a payload signed with a media
 * key gets here: a failure is a bug or a leaked key, refused all the same). `safeKey` is
 * added: whether its storage key is a plain relative path. */
function decoded(payload) {
    let fields;
    try {
        // String.bytesFrom (njs before 0.8) decodes to a byte string; a Buffer's toString()
        // took five times as long. The payload is ASCII JSON (the app encodes with
        // ensure_ascii), so both give the same text.
        fields = JSON.parse(typeof String.bytesFrom === 'function'
            ? String.bytesFrom(payload, 'base64url')
            : Buffer.from(payload, 'base64url').toString());
    } catch (e) {
        return null;
    }
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)
        || Object.keys(fields).length !== FIELD_COUNT
        || !count(fields.m) || !count(fields.n) || !count(fields.x)
        || typeof fields.f !== 'string' || typeof fields.h !== 'string'
        || typeof fields.t !== 'string' || typeof fields.d !== 'string'
        || typeof fields.k !== 'string') {
        return null;
    }
    // One pattern over the strings joined by newlines, which none may hold: each call of a
    // regular expression costs about a microsecond, whatever it matches. The file id; the
    // SHA-256; the type and disposition, which go into headers, printable ASCII only (no CR or
    // LF); then the storage key: signed, but a path is never trusted, so segments of a safe
    // alphabet, none starting with a dot (no "." or ".."), no leading or doubled slash (the
    // app's keys are files/<xx>/<hex>).
    const strings = fields.f + '\n' + fields.h + '\n' + fields.t + '\n' + fields.d + '\n';
    fields.safeKey = fields.k.length <= MAX_KEY_LENGTH
        && /^[0-9a-f-]{36}\n[0-9a-f]{64}\n[\x20-\x7e]+\n[\x20-\x7e]*\n[A-Za-z0-9_-][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/
            .test(strings + fields.k);
    if (!fields.safeKey
        && !/^[0-9a-f-]{36}\n[0-9a-f]{64}\n[\x20-\x7e]+\n[\x20-\x7e]*\n$/.test(strings)) {
        return null;
    }
    return fields;
}

/* A whole number of seconds or bytes (JSON true is no number, 1.5 is no count). */
function count(value) {
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function refuse(r, reason) {
    r.variables.signed_media_verdict = reason;
    plain(r, 403, REFUSED_BODY, 'no-store');
}

function plain(r, status, body, cacheControl) {
    r.headersOut['Content-Type'] = 'text/plain; charset=utf-8';
    r.headersOut['Cache-Control'] = cacheControl;
    r.headersOut['X-Content-Type-Options'] = 'nosniff';
    r.return(status, body);
}

/* What a 304 (or 412, 416) repeats of the 200 it stands for, as headers.validator_headers. */
function validatorHeaders(r, etag, lastModified) {
    r.headersOut['ETag'] = etag;
    r.headersOut['Last-Modified'] = lastModified;
    r.headersOut['Cache-Control'] = CACHE_CONTROL;
    r.headersOut['X-Content-Type-Options'] = 'nosniff';
}

/* ------------------------------------------------------------------------------------------
 * Conditional requests, as downloads/http/conditional.py (RFC 9110 §13.2.2 steps 1-4): 304 or
 * 412 when a precondition decides the answer, null to serve. GET and HEAD only get here.
 */
function preconditionStatus(headers, etag, modified) {
    const ifMatch = present(headers['If-Match']);
    const ifNoneMatch = present(headers['If-None-Match']);
    if (ifMatch !== null) {
        if (!ifMatchPasses(ifMatch, etag)) {
            return 412;
        }
    } else {
        const since = httpTime(present(headers['If-Unmodified-Since']));
        if (since !== null && modified > since) {
            return 412;
        }
    }
    if (ifNoneMatch !== null) {
        if (!ifNoneMatchPasses(ifNoneMatch, etag)) {
            return 304;
        }
    } else {
        const since = httpTime(present(headers['If-Modified-Since']));
        if (since !== null && modified <= since) {
            return 304;
        }
    }
    return null;
}

// A field sent with an empty value says nothing, so it counts as absent.
function present(value) {
    return value === undefined || stripOws(value) === '' ? null : value;
}

function stripOws(text) {
    return text.replace(/^[ \t]+|[ \t]+$/g, '');
}

function ifMatchPasses(value, etag) {
    if (stripOws(value) === '*') {
        return true;
    }
    return (entityTags(value) || []).some(tag => !tag.weak && '"' + tag.opaque + '"' === etag);
}

function ifNoneMatchPasses(value, etag) {
    if (stripOws(value) === '*') {
        return false;
    }
    return !(entityTags(value) || []).some(tag => '"' + tag.opaque + '"' === etag);
}

/* The entity-tags of a list, or null if it is malformed (empty elements skipped). */
function entityTags(value) {
    const token = /^(?:[ \t]+|,|(W\/)?"([\x21\x23-\x7e\x80-\xff]*)")/;
    const tags = [];
    let rest = value;
    let afterTag = false;
    while (rest.length > 0) {
        const match = token.exec(rest);
        if (match === null) {
            return null;
        }
        rest = rest.slice(match[0].length);
        if (match[0] === ',') {
            afterTag = false;
        } else if (match[2] !== undefined) {
            if (afterTag) {
                return null;
            }
            tags.push({weak: match[1] !== undefined, opaque: match[2]});
            afterTag = true;
        }
    }
    return tags;
}

/* ------------------------------------------------------------------------------------------
 * Ranges, as downloads/http/ranges.py: the ranges to send, sorted and merged, null for the
 * whole file (no Range, one to ignore, too many range-specs), 'unsatisfiable' for a 416.
 */
function ifRangeAllows(value, etag, modified) {
    if (value === undefined) {
        return true;
    }
    const text = stripOws(value);
    if (text.startsWith('"') || text.startsWith('W/')) {
        const tags = entityTags(text) || [];
        return tags.length === 1 && !tags[0].weak && '"' + tags[0].opaque + '"' === etag;
    }
    return httpTime(text) === modified;
}

function parseRange(header, size, maxRanges) {
    if (!header) {
        return null;
    }
    const value = stripOws(header);
    const equals = value.indexOf('=');
    if (equals < 0 || value.slice(0, equals).toLowerCase() !== 'bytes') {
        return null;
    }
    const specs = value.slice(equals + 1).split(',').map(stripOws).filter(spec => spec !== '');
    if (specs.length === 0 || specs.length > maxRanges) {
        return null;
    }
    const ranges = [];
    for (let i = 0; i < specs.length; i++) {
        const range = resolveRange(specs[i], size);
        if (range === 'malformed') {
            return null;
        }
        if (range !== null) {
            ranges.push(range);
        }
    }
    if (ranges.length === 0) {
        return 'unsatisfiable';
    }
    if (size === 0) {
        return null;
    }
    return coalesce(ranges);
}

/* One range-spec as [first, last] inside the file, null when unsatisfiable, or 'malformed'. */
function resolveRange(spec, size) {
    let match = /^-([0-9]+)$/.exec(spec);
    if (match !== null) {
        if (match[1].replace(/^0+/, '') === '') {
            return null;
        }
        return [size - clamped(match[1], size), size - 1];
    }
    match = /^([0-9]+)-([0-9]*)$/.exec(spec);
    if (match === null) {
        return 'malformed';
    }
    if (match[2] !== '' && exceeds(match[1], match[2])) {
        return 'malformed';
    }
    const first = clamped(match[1], size);
    if (first >= size) {
        return null;
    }
    const last = match[2] !== '' ? clamped(match[2], size) : size;
    return [first, Math.min(last, size - 1)];
}

// A position past the end means the end; digits are compared by length before Number() sees
// them, so no precision is lost on long runs.
function clamped(digits, ceiling) {
    const significant = digits.replace(/^0+/, '');
    if (significant.length > String(ceiling).length) {
        return ceiling;
    }
    return Math.min(Number(significant || '0'), ceiling);
}

function exceeds(a, b) {
    a = a.replace(/^0+/, '');
    b = b.replace(/^0+/, '');
    return a.length !== b.length ? a.length > b.length : a > b;
}

function coalesce(ranges) {
    const sorted = ranges.slice().sort((p, q) => p[0] - q[0] || p[1] - q[1]);
    const merged = [];
    for (let i = 0; i < sorted.length; i++) {
        const start = sorted[i][0];
        const end = sorted[i][1];
        const last = merged[merged.length - 1];
        if (last !== undefined && start <= last[1] + 1) {
            last[1] = Math.max(last[1], end);
        } else {
            merged.push([start, end]);
        }
    }
    return merged;
}

/* Whether nginx, handed the request as it came, sends exactly `ranges` in this order, as
 * downloads/delivery/nginx.py asks before it lets nginx apply a Range: an If-Range nginx reads
 * as the app does (its own check runs against the ETag and Last-Modified the location adds),
 * and a Range nginx parses alike (it neither merges nor sorts, allows no tabs or empty
 * elements, and refuses numbers past 2^63). */
function nginxAgrees(headers, ranges, size, etag, lastModified) {
    const ifRange = headers['If-Range'];
    if (ifRange !== undefined) {
        const bare = ifRange.replace(/^ +| +$/g, '');
        if (bare !== etag && bare !== lastModified) {
            return false;
        }
    }
    const header = headers['Range'];
    if (header.indexOf('\t') >= 0) {
        return false;
    }
    const picked = [];
    const list = header.replace(/^ +| +$/g, '');
    const specs = list.slice(list.indexOf('=') + 1).split(',');
    for (let i = 0; i < specs.length; i++) {
        const spec = specs[i].replace(/^ +| +$/g, '');
        if (!/^([0-9]{1,18}-[0-9]{0,18}|-[0-9]{1,18})$/.test(spec)) {
            return false;
        }
        const range = resolveRange(spec, size);
        if (range === 'malformed') {
            return false;
        }
        if (range !== null) {
            picked.push(range);
        }
    }
    return picked.length === ranges.length
        && picked.every((range, i) => range[0] === ranges[i][0] && range[1] === ranges[i][1]);
}

/* The Range header that asks nginx for exactly `ranges` (sorted, merged, inside the file). */
function rangeHeader(ranges) {
    return 'bytes=' + ranges.map(range => range[0] + '-' + range[1]).join(',');
}

/* ------------------------------------------------------------------------------------------
 * HTTP dates, as Django's parse_http_date (IMF-fixdate, RFC 850, asctime): Unix seconds, or
 * null for anything else (an invalid date is ignored, RFC 9110 §13.1.3).
 */
const MONTHS = 'janfebmaraprmayjunjulaugsepoctnovdec';

function httpTime(value) {
    if (value === null || value === undefined) {
        return null;
    }
    const text = stripOws(value);
    let day, month, year, clock;
    let match = /^\w{3}, ([0-9]{2}) (\w{3}) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT$/
        .exec(text);
    if (match !== null) {
        day = match[1];
        month = match[2];
        year = Number(match[3]);
        clock = match.slice(4, 7);
    } else if ((match = /^\w{6,9}, ([0-9]{2})-(\w{3})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT$/
               .exec(text)) !== null) {
        // Two-digit years: within 50 years from now, as Django (RFC 7231 §7.1.1.1).
        const thisYear = new Date().getUTCFullYear();
        year = Number(match[3]) + thisYear - thisYear % 100;
        if (Number(match[3]) > thisYear % 100 + 50) {
            year -= 100;
        }
        day = match[1];
        month = match[2];
        clock = match.slice(4, 7);
    } else if ((match = /^\w{3} (\w{3}) ([ 0-9][0-9]) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4})$/
               .exec(text)) !== null) {
        month = match[1];
        day = match[2];
        clock = match.slice(3, 6);
        year = Number(match[6]);
    } else {
        return null;
    }
    const monthAt = month.length === 3 ? MONTHS.indexOf(month.toLowerCase()) : -1;
    const monthIndex = monthAt % 3 === 0 ? monthAt / 3 : -1;
    const hour = Number(clock[0]);
    const minute = Number(clock[1]);
    const second = Number(clock[2]);
    const dayNumber = Number(day.trim());
    if (monthIndex < 0 || hour > 23 || minute > 59 || second > 59) {
        return null;
    }
    const date = new Date(Date.UTC(year, monthIndex, dayNumber, hour, minute, second));
    if (date.getUTCDate() !== dayNumber || date.getUTCMonth() !== monthIndex) {
        return null;  // the 31st of a 30-day month
    }
    return date.getTime() / 1000;
}

/* IMF-fixdate, as Django's http_date: toUTCString's format (ECMAScript 21.4.4.43). */
function httpDate(seconds) {
    return new Date(seconds * 1000).toUTCString();
}

export default {serve};
