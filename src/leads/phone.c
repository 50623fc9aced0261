/*
 * Phone normalisation: a tokenizer for what people type, a table of every
 * E.164 country calling code with national-number length limits, and
 * hand-written leading-digit rules for the markets leadx sells in first (RU,
 * KZ, US/NANP, GB, DE, PL, CZ, RO, UA).
 *
 * Why tables and not libphonenumber: the intake path is C, pure and hot, and
 * only needs "can this number exist, and what is its one spelling"; the full
 * metadata (carriers, number types, formatting) is megabytes we do not use.
 * The rules here are deliberately a little lenient where national plans are
 * irregular: refusing a real customer's number costs more than letting an
 * unassigned one through to the other pseudo-lead checks.
 *
 * Every message is a static string (built with string-literal concatenation
 * in the table macros), so failures need no buffer and never echo the input.
 */
#include "leads/phone.h"

#include <string.h>

/* Enough for the longest international prefix ("0011") and 15 digits, with room to say "too long". */
#define DIGITS_MAX 20

#define LX__STR2(x) #x
#define LX__STR(x)  LX__STR2(x)

/* The national significant number may begin with 0 (IT, SM, CI, CG, GA, BJ): no trunk prefix to strip. */
#define CC_LEADING_ZERO 1

typedef const char *(*nsn_rule_fn)(const char *nsn, size_t n, const char *region);

typedef struct st_lx_phone_cc_t {
    const char *cc;   /* calling code digits, "49" */
    const char *iso;  /* main country; NULL when the code is not a country (non-geographic, unused) */
    const char *also; /* other countries on the same code, space-separated: "GG JE IM" */
    unsigned char nsn_min, nsn_max;
    const char *trunk; /* national trunk prefixes, space-separated, tried in order; "" for none */
    unsigned char flags;
    nsn_rule_fn rule;    /* detailed check replacing the length/leading-zero one, or NULL */
    const char *message; /* why a number fails the length check, or why a non-country code is refused */
} cc_t;

#define MSG_INVALID(iso, cc, expect) "is not a valid phone number for " iso " (expected " expect " digits after +" cc ")"

/* Full form, then the common shapes: exact length / length range, trunk "0", the code used by one country. */
#define CC(cc, iso, also, lo, hi, trunk, flags, rule, expect)                                                                      \
    {                                                                                                                              \
        cc, iso, also, lo, hi, trunk, flags, rule, MSG_INVALID(iso, cc, expect)                                                    \
    }
#define CX(cc, iso, n)             CC(cc, iso, "", n, n, "0", 0, NULL, #n)
#define CR(cc, iso, lo, hi)        CC(cc, iso, "", lo, hi, "0", 0, NULL, #lo " to " #hi)
#define CXA(cc, iso, also, n)      CC(cc, iso, also, n, n, "0", 0, NULL, #n)
#define CRA(cc, iso, also, lo, hi) CC(cc, iso, also, lo, hi, "0", 0, NULL, #lo " to " #hi)
/* Leading zero significant, no trunk prefix. */
#define CRZ(cc, iso, also, lo, hi) CC(cc, iso, also, lo, hi, "", CC_LEADING_ZERO, NULL, #lo " to " #hi)
/* International non-geographic services (ITU-T E.164 "global services"): real numbers, but nobody's personal phone. */
#define NG(cc, what)                                                                                                               \
    {                                                                                                                              \
        cc, NULL, "", 0, 0, "", 0, NULL, "is " what " (+" cc "), not a personal phone number"                                      \
    }
/* Assigned by ITU but not in service. */
#define UN(cc)                                                                                                                     \
    {                                                                                                                              \
        cc, NULL, "", 0, 0, "", 0, NULL, "has a country calling code (+" cc ") that is not in service"                             \
    }

static const char *rule_nanp(const char *nsn, size_t n, const char *region);
static const char *rule_zone7(const char *nsn, size_t n, const char *region);
static const char *rule_gb(const char *nsn, size_t n, const char *region);
static const char *rule_de(const char *nsn, size_t n, const char *region);
static const char *rule_pl(const char *nsn, size_t n, const char *region);
static const char *rule_cz(const char *nsn, size_t n, const char *region);
static const char *rule_ro(const char *nsn, size_t n, const char *region);
static const char *rule_ua(const char *nsn, size_t n, const char *region);

#define NANP_MEMBERS "CA AG AI AS BB BM BS DM DO GD GU JM KN KY LC MP MS PR SX TC TT UM VC VG VI"

/*
 * Every code ITU-T E.164 assigns (list of 2024), sorted by strcmp of the code
 * so a lookup can binary-search; codes are prefix-free by construction of
 * E.164. Lengths are of the national significant number (after the code,
 * without trunk prefix); sources: ITU-T E.164 Annex to Operational Bulletin
 * and the national numbering plans as published to the ITU. Unlisted codes
 * (210, 214, 28x, 384, 693...) are spare and refused as unknown.
 */
static const cc_t cc_table[] = {
    CC("1", "US", NANP_MEMBERS, 10, 10, "1", 0, rule_nanp, "10"),
    CR("20", "EG", 8, 10),
    CX("211", "SS", 9),
    CXA("212", "MA", "EH", 9),
    CR("213", "DZ", 8, 9),
    CX("216", "TN", 8),
    CR("218", "LY", 8, 9),
    CX("220", "GM", 7),
    CX("221", "SN", 9),
    CX("222", "MR", 8),
    CX("223", "ML", 8),
    CR("224", "GN", 8, 9),
    CRZ("225", "CI", "", 8, 10),
    CX("226", "BF", 8),
    CX("227", "NE", 8),
    CX("228", "TG", 8),
    CRZ("229", "BJ", "", 8, 10),
    CR("230", "MU", 7, 8),
    CR("231", "LR", 7, 9),
    CX("232", "SL", 8),
    CX("233", "GH", 9),
    CR("234", "NG", 7, 10),
    CX("235", "TD", 8),
    CX("236", "CF", 8),
    CR("237", "CM", 8, 9),
    CX("238", "CV", 7),
    CX("239", "ST", 7),
    CX("240", "GQ", 9),
    CRZ("241", "GA", "", 7, 9),
    CRZ("242", "CG", "", 9, 9),
    CX("243", "CD", 9),
    CX("244", "AO", 9),
    CR("245", "GW", 7, 9),
    CX("246", "IO", 7),
    CR("247", "AC", 4, 5),
    CX("248", "SC", 7),
    CX("249", "SD", 9),
    CX("250", "RW", 9),
    CX("251", "ET", 9),
    CR("252", "SO", 7, 9),
    CX("253", "DJ", 8),
    CR("254", "KE", 7, 10),
    CX("255", "TZ", 9),
    CX("256", "UG", 9),
    CX("257", "BI", 8),
    CR("258", "MZ", 8, 9),
    CX("260", "ZM", 9),
    CX("261", "MG", 9),
    CXA("262", "RE", "YT", 9),
    CR("263", "ZW", 5, 10),
    CR("264", "NA", 6, 10),
    CR("265", "MW", 7, 9),
    CX("266", "LS", 8),
    CR("267", "BW", 7, 8),
    CX("268", "SZ", 8),
    CX("269", "KM", 7),
    CX("27", "ZA", 9),
    CRA("290", "SH", "TA", 4, 5),
    CX("291", "ER", 7),
    CX("297", "AW", 7),
    CX("298", "FO", 6),
    CX("299", "GL", 6),
    CX("30", "GR", 10),
    CX("31", "NL", 9),
    CR("32", "BE", 8, 9),
    CX("33", "FR", 9),
    CX("34", "ES", 9),
    CX("350", "GI", 8),
    CX("351", "PT", 9),
    CR("352", "LU", 4, 11),
    CR("353", "IE", 7, 9),
    CR("354", "IS", 7, 9),
    CR("355", "AL", 6, 9),
    CX("356", "MT", 8),
    CX("357", "CY", 8),
    CRA("358", "FI", "AX", 5, 12),
    CR("359", "BG", 6, 9),
    CC("36", "HU", "", 8, 9, "06", 0, NULL, "8 to 9"),
    CC("370", "LT", "", 8, 8, "8 0", 0, NULL, "8"), /* trunk 8, moving to 0 */
    CX("371", "LV", 8),
    CR("372", "EE", 7, 10),
    CX("373", "MD", 8),
    CX("374", "AM", 8),
    CC("375", "BY", "", 9, 9, "80 8", 0, NULL, "9"), /* "8 029 ..." dials 8, then the 0 of the operator code */
    CR("376", "AD", 6, 9),
    CR("377", "MC", 8, 9),
    CRZ("378", "SM", "", 6, 10),
    UN("379"), /* reserved for the Vatican, which is reached through +39 06 698 */
    CC("380", "UA", "", 9, 9, "0", 0, rule_ua, "9"),
    CR("381", "RS", 6, 12),
    CX("382", "ME", 8),
    CR("383", "XK", 8, 9),
    CR("385", "HR", 6, 9),
    CX("386", "SI", 8),
    CR("387", "BA", 8, 9),
    CX("389", "MK", 8),
    CRZ("39", "IT", "VA", 6, 11),
    CC("40", "RO", "", 9, 9, "0", 0, rule_ro, "9"),
    CX("41", "CH", 9),
    CC("420", "CZ", "", 9, 9, "", 0, rule_cz, "9"),
    CX("421", "SK", 9),
    CR("423", "LI", 7, 9),
    CR("43", "AT", 5, 13),
    CC("44", "GB", "GG JE IM", 9, 10, "0", 0, rule_gb, "9 to 10"),
    CX("45", "DK", 8),
    CR("46", "SE", 7, 10),
    CXA("47", "NO", "SJ", 8),
    CC("48", "PL", "", 9, 9, "", 0, rule_pl, "9"),
    CC("49", "DE", "", 6, 11, "0", 0, rule_de, "6 to 11"),
    CXA("500", "FK", "GS", 5),
    CX("501", "BZ", 7),
    CX("502", "GT", 8),
    CX("503", "SV", 8),
    CX("504", "HN", 8),
    CX("505", "NI", 8),
    CX("506", "CR", 8),
    CR("507", "PA", 7, 8),
    CX("508", "PM", 6),
    CX("509", "HT", 8),
    CR("51", "PE", 8, 9),
    CC("52", "MX", "", 10, 10, "01 1", 0, NULL, "10"), /* the retired "01" trunk and "+52 1" mobile prefix */
    CR("53", "CU", 6, 8),
    CR("54", "AR", 10, 11),
    CR("55", "BR", 10, 11),
    CX("56", "CL", 9),
    CX("57", "CO", 10),
    CX("58", "VE", 10),
    CXA("590", "GP", "BL MF", 9),
    CX("591", "BO", 8),
    CX("592", "GY", 7),
    CR("593", "EC", 8, 9),
    CX("594", "GF", 9),
    CR("595", "PY", 6, 9),
    CX("596", "MQ", 9),
    CR("597", "SR", 6, 7),
    CX("598", "UY", 8),
    CRA("599", "CW", "BQ", 7, 8),
    CR("60", "MY", 8, 10),
    CXA("61", "AU", "CX CC", 9),
    CR("62", "ID", 7, 12),
    CR("63", "PH", 8, 10),
    CRA("64", "NZ", "PN", 8, 10),
    CX("65", "SG", 8),
    CR("66", "TH", 8, 9),
    CR("670", "TL", 7, 8),
    CRA("672", "NF", "AQ", 5, 6),
    CX("673", "BN", 7),
    CX("674", "NR", 7),
    CR("675", "PG", 7, 8),
    CR("676", "TO", 5, 7),
    CR("677", "SB", 5, 7),
    CR("678", "VU", 5, 7),
    CX("679", "FJ", 7),
    CX("680", "PW", 7),
    CX("681", "WF", 6),
    CX("682", "CK", 5),
    CR("683", "NU", 4, 7),
    CR("685", "WS", 5, 7),
    CR("686", "KI", 5, 8),
    CX("687", "NC", 6),
    CR("688", "TV", 5, 6),
    CR("689", "PF", 6, 8),
    CR("690", "TK", 4, 7),
    CX("691", "FM", 7),
    CX("692", "MH", 7),
    CC("7", "RU", "KZ", 10, 10, "8", 0, rule_zone7, "10"),
    NG("800", "an international freephone number"),
    NG("808", "an international shared-cost number"),
    CR("81", "JP", 9, 10),
    CR("82", "KR", 8, 10),
    CR("84", "VN", 9, 10),
    CR("850", "KP", 6, 10),
    CX("852", "HK", 8),
    CX("853", "MO", 8),
    CR("855", "KH", 8, 9),
    CR("856", "LA", 8, 10),
    CR("86", "CN", 9, 11),
    NG("870", "an Inmarsat satellite number"),
    UN("878"),
    CR("880", "BD", 8, 10),
    NG("881", "a global satellite phone number"),
    NG("882", "a number of an international network"),
    NG("883", "a number of an international network"),
    CR("886", "TW", 8, 9),
    NG("888", "a UN humanitarian telecommunications number"),
    CX("90", "TR", 10),
    CX("91", "IN", 10),
    CR("92", "PK", 9, 10),
    CX("93", "AF", 9),
    CX("94", "LK", 9),
    CR("95", "MM", 7, 10),
    CX("960", "MV", 7),
    CR("961", "LB", 7, 8),
    CR("962", "JO", 8, 9),
    CR("963", "SY", 8, 9),
    CR("964", "IQ", 8, 10),
    CX("965", "KW", 8),
    CR("966", "SA", 8, 9),
    CR("967", "YE", 7, 9),
    CX("968", "OM", 8),
    CR("970", "PS", 8, 9),
    CR("971", "AE", 8, 9),
    CR("972", "IL", 8, 9),
    CX("973", "BH", 8),
    CX("974", "QA", 8),
    CR("975", "BT", 7, 8),
    CX("976", "MN", 8),
    CR("977", "NP", 8, 10),
    NG("979", "an international premium-rate number"),
    CX("98", "IR", 10),
    UN("991"),
    CX("992", "TJ", 9),
    CC("993", "TM", "", 8, 8, "8", 0, NULL, "8"),
    CX("994", "AZ", 9),
    CX("995", "GE", 9),
    CX("996", "KG", 9),
    CX("998", "UZ", 9),
};
#define CC_COUNT (sizeof(cc_table) / sizeof(cc_table[0]))

/*
 * NANP area codes that are not the US: Canada, and the Caribbean and Pacific
 * members, each its own country for the quality score. An iso of "" marks a
 * non-geographic code (toll-free, personal, government): it belongs to no one
 * member, so it takes the lead's region when that is a NANP member. Every
 * other valid area code is read as US. Sorted by code.
 */
static const struct {
    unsigned short code;
    char iso[3];
} nanp_areas[] = {
    {204, "CA"}, {226, "CA"}, {236, "CA"}, {242, "BS"}, {246, "BB"}, {249, "CA"}, {250, "CA"}, {257, "CA"}, {263, "CA"},
    {264, "AI"}, {268, "AG"}, {284, "VG"}, {289, "CA"}, {306, "CA"}, {340, "VI"}, {343, "CA"}, {345, "KY"}, {354, "CA"},
    {365, "CA"}, {367, "CA"}, {368, "CA"}, {382, "CA"}, {387, "CA"}, {403, "CA"}, {416, "CA"}, {418, "CA"}, {428, "CA"},
    {431, "CA"}, {437, "CA"}, {438, "CA"}, {441, "BM"}, {450, "CA"}, {460, "CA"}, {468, "CA"}, {473, "GD"}, {474, "CA"},
    {500, ""},   {506, "CA"}, {514, "CA"}, {519, "CA"}, {533, ""},   {544, ""},   {548, "CA"}, {566, ""},   {577, ""},
    {579, "CA"}, {581, "CA"}, {584, "CA"}, {587, "CA"}, {588, ""},   {600, "CA"}, {604, "CA"}, {613, "CA"}, {622, "CA"},
    {639, "CA"}, {647, "CA"}, {649, "TC"}, {658, "JM"}, {664, "MS"}, {670, "MP"}, {671, "GU"}, {672, "CA"}, {683, "CA"},
    {684, "AS"}, {700, ""},   {705, "CA"}, {709, "CA"}, {710, ""},   {721, "SX"}, {742, "CA"}, {753, "CA"}, {758, "LC"},
    {767, "DM"}, {778, "CA"}, {780, "CA"}, {782, "CA"}, {784, "VC"}, {787, "PR"}, {800, ""},   {807, "CA"}, {809, "DO"},
    {819, "CA"}, {825, "CA"}, {829, "DO"}, {833, ""},   {844, ""},   {849, "DO"}, {855, ""},   {866, ""},   {867, "CA"},
    {868, "TT"}, {869, "KN"}, {873, "CA"}, {876, "JM"}, {877, ""},   {879, "CA"}, {888, ""},   {900, ""},   {902, "CA"},
    {905, "CA"}, {939, "PR"}, {942, "CA"},
};
#define NANP_AREA_COUNT (sizeof(nanp_areas) / sizeof(nanp_areas[0]))

/* ---- detailed national rules -------------------------------------------------------------------------------------- */

#define IS_DIGIT_IN(c, lo, hi) ((c) >= (lo) && (c) <= (hi))

static const char *rule_nanp(const char *nsn, size_t n, const char *region)
{
    (void)region;
    if (n != 10) return "is not a valid North American phone number (expected 10 digits after +1)";
    if (!IS_DIGIT_IN(nsn[0], '2', '9'))
        return "is not a valid North American phone number (the area code cannot start with 0 or 1)";
    if (nsn[1] == '1' && nsn[2] == '1')
        return "is not a valid North American phone number (N11 codes such as 911 are not area codes)";
    if (nsn[1] == '9' || (nsn[0] == '3' && nsn[1] == '7') || (nsn[0] == '9' && nsn[1] == '6'))
        return "is not a valid North American phone number (the area code is reserved and not in service)";
    if (!IS_DIGIT_IN(nsn[3], '2', '9'))
        return "is not a valid North American phone number (the exchange code cannot start with 0 or 1)";
    if (nsn[4] == '1' && nsn[5] == '1')
        return "is not a valid North American phone number (N11 codes such as 911 are not exchange codes)";
    return NULL;
}

/*
 * Russian 8xx codes in use: 80x services (800 freephone), then the geographic 811-818, 820-821, 831-836, 840-848,
 * 851-855, 861-867, 869, 871-873, 877-879. Checked because the trunk prefix is also 8: "8 701 123 456" with a digit
 * missing must not turn into a made-up +7 870 number.
 */
static int ru_8xx_in_use(char b, char c)
{
    static const char *const in_use[10] = {"0123456789", "12345678", "01",     "123456", "012345678",
                                           "12345",      "12345679", "123789", "",       ""};
    return b >= '0' && b <= '9' && c >= '0' && c <= '9' && strchr(in_use[b - '0'], c) != NULL;
}

/* +7: 10 digits; 3, 4, 8, 9 are Russia (9xx mobile, 8xx see above), 6 and 7 Kazakhstan. */
static const char *rule_zone7(const char *nsn, size_t n, const char *region)
{
    if (n != 10) {
        int kz = n > 0 ? nsn[0] == '6' || nsn[0] == '7' : region != NULL && strcmp(region, "KZ") == 0;
        return kz ? MSG_INVALID("KZ", "7", "10") : MSG_INVALID("RU", "7", "10");
    }
    switch (nsn[0]) {
    case '8':
        if (!ru_8xx_in_use(nsn[1], nsn[2])) return "is not a valid phone number for RU (the code 8xx after +7 is not in use)";
        return NULL;
    case '3':
    case '4':
    case '6':
    case '7':
    case '9':
        return NULL;
    default:
        return "is not a valid phone number for RU or KZ (numbers after +7 start with 3, 4, 8 or 9 in RU, 6 or 7 in KZ)";
    }
}

/* GB: 1 and 8 may be 9 or 10 digits (some 1xxxx areas, some 0800s), 2, 3, 5, 7, 9 are 10; 0, 4 and 6 unused. */
static const char *rule_gb(const char *nsn, size_t n, const char *region)
{
    (void)region;
    if (n < 1 || strchr("1235789", nsn[0]) == NULL)
        return "is not a valid phone number for GB (numbers after +44 start with 1, 2, 3, 5, 7, 8 or 9)";
    if (nsn[0] == '7' && n != 10) return "is not a valid phone number for GB (mobile numbers are 10 digits after +44: 7xxx xxxxxx)";
    if (n == 10 || (n == 9 && (nsn[0] == '1' || nsn[0] == '8'))) return NULL;
    return "is not a valid phone number for GB (expected 10 digits after +44, 9 for some area codes)";
}

/*
 * DE: an open numbering plan, 6..11 digits after +49. Mobiles are 15x, 16x, 17x with 10 or 11 digits; other
 * numbers starting with 1 are service codes that cannot be dialled from abroad, except 18x.
 */
static const char *rule_de(const char *nsn, size_t n, const char *region)
{
    (void)region;
    if (n < 6 || n > 11) return MSG_INVALID("DE", "49", "6 to 11");
    if (nsn[0] == '0') return "is not a valid phone number for DE (the number after +49 cannot start with 0)";
    if (nsn[0] == '1') {
        if (nsn[1] == '5' || nsn[1] == '6' || nsn[1] == '7') {
            if (n < 10) return "is not a valid phone number for DE (mobile numbers are 10 or 11 digits after +49: 15x, 16x, 17x)";
        } else if (nsn[1] != '8') {
            return "is not a valid phone number for DE (after +49, 1 is followed by 5, 6 or 7 for mobiles or 8 for "
                   "services)";
        }
    }
    return NULL;
}

/* PL: closed 9-digit plan, no trunk prefix since 2005; 10, 11 and 19 begin carrier and short service codes. */
static const char *rule_pl(const char *nsn, size_t n, const char *region)
{
    (void)region;
    if (n != 9) return MSG_INVALID("PL", "48", "9");
    if (nsn[0] == '0' || (nsn[0] == '1' && (nsn[1] == '0' || nsn[1] == '1' || nsn[1] == '9')))
        return "is not a valid phone number for PL (numbers after +48 cannot start with 0, 10, 11 or 19)";
    return NULL;
}

/* CZ: closed 9-digit plan, no trunk prefix; 2-5 fixed, 6 and 7 mobile, 8 and 9 services. */
static const char *rule_cz(const char *nsn, size_t n, const char *region)
{
    (void)region;
    if (n != 9) return MSG_INVALID("CZ", "420", "9");
    if (!IS_DIGIT_IN(nsn[0], '2', '9')) return "is not a valid phone number for CZ (numbers after +420 start with 2 to 9)";
    return NULL;
}

/* RO: 9 digits after the trunk 0; 2 and 3 fixed, 7 mobile, 8 and 9 services. */
static const char *rule_ro(const char *nsn, size_t n, const char *region)
{
    (void)region;
    if (n != 9) return MSG_INVALID("RO", "40", "9");
    if (strchr("23789", nsn[0]) == NULL)
        return "is not a valid phone number for RO (numbers after +40 start with 2 or 3, 7 for mobiles, 8 or 9)";
    return NULL;
}

/* UA: 9 digits after the trunk 0; 3-6 fixed by oblast, mobile 39, 5x, 6x, 7x, 9x; 0-2 unused. */
static const char *rule_ua(const char *nsn, size_t n, const char *region)
{
    (void)region;
    if (n != 9) return MSG_INVALID("UA", "380", "9");
    if (!IS_DIGIT_IN(nsn[0], '3', '9')) return "is not a valid phone number for UA (numbers after +380 start with 3 to 9)";
    return NULL;
}

/* ---- tables ------------------------------------------------------------------------------------------------------- */

static const char MSG_LEADING_ZERO[] = "is not a valid phone number (the number after the country code cannot start with 0)";

/* 1 if the space-separated list of alpha-2 codes contains `iso`. */
static int list_has(const char *list, const char *iso)
{
    for (const char *p = list; *p != '\0';) {
        if (p[0] == iso[0] && p[1] == iso[1]) return 1;
        p += 2;
        while (*p == ' ') p++;
    }
    return 0;
}

/* The entry whose code is a prefix of d[0..n); codes are prefix-free so there is at most one. */
static const cc_t *find_cc(const char *d, size_t n)
{
    size_t lo = 0, hi = CC_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *cc = cc_table[mid].cc;
        size_t cl = strlen(cc);
        int cmp = n >= cl ? memcmp(d, cc, cl) : memcmp(d, cc, n) <= 0 ? -1 : 1;
        if (cmp == 0) return &cc_table[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Upper-cases the country part of an ISO 3166-1 alpha-2 or 3166-2 code into iso[3]; 0 or -1. */
static int parse_country(const char *s, char iso[3])
{
    if (s == NULL) return -1;
    for (int i = 0; i < 2; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z') return -1;
        iso[i] = c;
    }
    if (s[2] != '\0' && s[2] != '-') return -1;
    iso[2] = '\0';
    return 0;
}

static const cc_t *find_country(const char *iso)
{
    for (size_t i = 0; i < CC_COUNT; i++) {
        const cc_t *e = &cc_table[i];
        if (e->iso != NULL && (strcmp(e->iso, iso) == 0 || list_has(e->also, iso))) return e;
    }
    return NULL;
}

/* Country of a NANP area code: a member's ISO, "" for non-geographic codes, "US" for the rest. */
static const char *nanp_area_country(const char *nsn)
{
    unsigned code = (unsigned)(nsn[0] - '0') * 100 + (unsigned)(nsn[1] - '0') * 10 + (unsigned)(nsn[2] - '0');
    size_t lo = 0, hi = NANP_AREA_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nanp_areas[mid].code == code) return nanp_areas[mid].iso;
        if (nanp_areas[mid].code < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    return "US";
}

/* ---- resolution --------------------------------------------------------------------------------------------------- */

/* NULL if nsn[0..n) can be a national significant number under `e`, else why not. */
static const char *check_nsn(const cc_t *e, const char *nsn, size_t n, const char *region)
{
    const char *why;
    if (e->rule != NULL) {
        if ((why = e->rule(nsn, n, region)) != NULL) return why;
    } else if (n > 0 && nsn[0] == '0' && !(e->flags & CC_LEADING_ZERO) && n >= e->nsn_min && n <= e->nsn_max) {
        return MSG_LEADING_ZERO;
    }
    /* Also guards the rules: the table's limits are what keeps the result within E.164's 15 digits. */
    if (n < e->nsn_min || n > e->nsn_max) return e->message;
    return NULL;
}

/* If d[0..n) begins with the idx-th trunk prefix of `e`, its length; else 0. Sets *more when there is no idx-th. */
static size_t trunk_match(const cc_t *e, size_t idx, const char *d, size_t n, int *more)
{
    const char *p = e->trunk;
    for (size_t i = 0; i < idx && *p != '\0'; i++) {
        p += strcspn(p, " ");
        p += strspn(p, " ");
    }
    size_t tl = strcspn(p, " ");
    *more = tl > 0;
    if (tl == 0 || tl > n || memcmp(d, p, tl) != 0) return 0;
    return tl;
}

typedef struct {
    const cc_t *e;
    const char *nsn;
    size_t n;
} resolved_t;

/*
 * Digits after the country code: as written, else with a trunk prefix removed ("+44 (0)20 ...",
 * "+7 8 916 ...", "+52 1 55 ..."). Returns NULL and fills *r, or the reason for the number as written.
 */
static const char *resolve_after_cc(const cc_t *e, const char *d, size_t n, const char *region, resolved_t *r)
{
    const char *why = check_nsn(e, d, n, region);
    if (why == NULL) {
        *r = (resolved_t){e, d, n};
        return NULL;
    }
    int more = 1;
    for (size_t i = 0; more; i++) {
        size_t tl = trunk_match(e, i, d, n, &more);
        if (tl > 0 && check_nsn(e, d + tl, n - tl, region) == NULL) {
            *r = (resolved_t){e, d + tl, n - tl};
            return NULL;
        }
    }
    return why;
}

static const char *resolve_international(const char *d, size_t n, const char *region, resolved_t *r)
{
    if (n == 0) return "must contain a country code and number after the +";
    if (d[0] == '0') return "must have a country code after the international prefix (country codes do not start with 0)";
    const cc_t *e = find_cc(d, n);
    if (e == NULL) return "has an unknown country calling code";
    if (e->iso == NULL) return e->message;
    size_t cl = strlen(e->cc);
    return resolve_after_cc(e, d + cl, n - cl, region, r);
}

/*
 * A number without "+" in the region of `e`: trunk prefix removed ("8 916...", "0151...", "1 212..."), as written
 * ("916 ...", "212 ..."), then as the region's own country code without the "+" ("7 916 ...", "48 601 ...").
 */
static const char *resolve_national(const cc_t *e, const char *d, size_t n, const char *region, resolved_t *r)
{
    const char *first_why = NULL;
    int more = 1;
    for (size_t i = 0; more; i++) {
        size_t tl = trunk_match(e, i, d, n, &more);
        if (tl == 0) continue;
        const char *why = check_nsn(e, d + tl, n - tl, region);
        if (why == NULL) {
            *r = (resolved_t){e, d + tl, n - tl};
            return NULL;
        }
        if (first_why == NULL) first_why = why;
    }
    const char *why = check_nsn(e, d, n, region);
    if (why == NULL) {
        *r = (resolved_t){e, d, n};
        return NULL;
    }
    if (first_why == NULL) first_why = why;
    size_t cl = strlen(e->cc);
    if (n > cl && memcmp(d, e->cc, cl) == 0 && resolve_after_cc(e, d + cl, n - cl, region, r) == NULL) return NULL;
    return first_why;
}

/* The country a resolved number belongs to, given the lead's region (may be NULL). */
static const char *number_country(const resolved_t *r, const char *region)
{
    const cc_t *e = r->e;
    if (e->rule == rule_zone7) return r->nsn[0] == '6' || r->nsn[0] == '7' ? "KZ" : "RU";
    if (e->rule == rule_nanp) {
        const char *iso = nanp_area_country(r->nsn);
        if (iso[0] != '\0') return iso;
        return region != NULL && (strcmp(region, "US") == 0 || list_has(e->also, region)) ? region : "US";
    }
    if (region != NULL && list_has(e->also, region)) return region;
    return e->iso;
}

/* ---- the tokenizer ------------------------------------------------------------------------------------------------ */

/*
 * Length of a Unicode separator at s[i] that forms paste into phone fields (no-break and thin spaces, zero-width
 * and direction marks, hyphens, dashes, minus, word joiner, BOM, ideographic space), or 0.
 */
static size_t unicode_separator(const unsigned char *s, size_t len, size_t i)
{
    size_t left = len - i;
    if (left >= 2 && s[i] == 0xC2 && s[i + 1] == 0xA0) return 2; /* U+00A0 */
    if (left < 3) return 0;
    unsigned a = s[i], b = s[i + 1], c = s[i + 2];
    if (a == 0xE2 && b == 0x80 && ((c >= 0x80 && c <= 0x95) || c == 0xAF)) return 3;              /* U+2000..U+2015, U+202F */
    if (a == 0xE2 && ((b == 0x81 && c == 0xA0) || (b == 0x88 && c == 0x92))) return 3;            /* U+2060, U+2212 */
    if ((a == 0xE3 && b == 0x80 && c == 0x80) || (a == 0xEF && b == 0xBB && c == 0xBF)) return 3; /* U+3000, U+FEFF */
    return 0;
}

static int ascii_separator(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '-' || c == '.' || c == '/';
}

typedef struct {
    char d[DIGITS_MAX];
    size_t n;
    int plus;
} digits_t;

/* Collects the digits and the "+" of a typed number; NULL or why the text is not a phone number at all. */
static const char *tokenize(const char *input, size_t len, digits_t *t)
{
    const unsigned char *s = (const unsigned char *)input;
    size_t i = 0, sep;
    int depth = 0, other = 0;
    t->n = 0;
    t->plus = 0;
    for (;;) { /* leading blanks, so that "  tel:+7..." is recognised */
        if (i < len && ascii_separator(s[i]))
            i++;
        else if (i < len && (sep = unicode_separator(s, len, i)) > 0)
            i += sep;
        else
            break;
    }
    if (len - i >= 4 && (s[i] | 0x20) == 't' && (s[i + 1] | 0x20) == 'e' && (s[i + 2] | 0x20) == 'l' && s[i + 3] == ':') i += 4;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= '0' && c <= '9') {
            if (t->n == DIGITS_MAX) return "is too long (a phone number has at most 15 digits)";
            t->d[t->n++] = (char)c;
            i++;
            continue;
        }
        if (c == '+') {
            if (t->plus || t->n > 0) return "may contain a single +, only before the country code";
            t->plus = 1;
            other = 1;
        } else if (c == '(') {
            if (++depth > 1) return "has unbalanced parentheses";
            other = 1;
        } else if (c == ')') {
            if (--depth < 0) return "has unbalanced parentheses";
            other = 1;
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
            return "must not contain letters (an extension, if any, is not accepted)";
        } else if (ascii_separator(c)) {
            /* skipped */
        } else if (c >= 0x80 && (sep = unicode_separator(s, len, i)) > 0) {
            i += sep;
            continue;
        } else {
            return "must contain only digits, spaces, +, parentheses, hyphens, dots and slashes";
        }
        i++;
    }
    if (depth != 0) return "has unbalanced parentheses";
    if (t->n == 0) return other ? "must contain digits" : "must not be empty";
    return NULL;
}

/* ---- public ------------------------------------------------------------------------------------------------------- */

int lx_phone_normalize(const char *input, size_t len, const char *region_country, char out[LX_PHONE_E164_SIZE], char *country_out,
                       const char **reason)
{
    out[0] = '\0';
    if (country_out != NULL) country_out[0] = '\0';
    const char *why = NULL;
    digits_t t;
    char region_buf[3];
    const char *region = parse_country(region_country, region_buf) == 0 ? region_buf : NULL;
    const cc_t *re = region != NULL ? find_country(region) : NULL;
    if (re == NULL) region = NULL;
    resolved_t r;

    if (len > LX_PHONE_INPUT_LEN_MAX) {
        why = "is too long (at most " LX__STR(LX_PHONE_INPUT_LEN_MAX) " characters)";
    } else if ((why = tokenize(input, len, &t)) != NULL) {
        /* not a number */
    } else if (t.plus) {
        why = resolve_international(t.d, t.n, region, &r);
    } else {
        /* International prefixes: "00" everywhere, and the region's own. No national number starts with them. */
        size_t ip = 0;
        if (t.n >= 2 && t.d[0] == '0' && t.d[1] == '0') ip = 2;
        if (re != NULL) {
            if (re->rule == rule_nanp && t.n >= 3 && memcmp(t.d, "011", 3) == 0)
                ip = 3;
            else if ((re->rule == rule_zone7 || strcmp(region, "BY") == 0) && t.n >= 3 && memcmp(t.d, "810", 3) == 0)
                ip = 3;
            else if (strcmp(region, "AU") == 0 && t.n >= 4 && memcmp(t.d, "0011", 4) == 0)
                ip = 4;
            else if (strcmp(region, "JP") == 0 && t.n >= 3 && memcmp(t.d, "010", 3) == 0)
                ip = 3;
        }
        if (ip > 0)
            why = resolve_international(t.d + ip, t.n - ip, region, &r);
        else if (re != NULL)
            why = resolve_national(re, t.d, t.n, region, &r);
        else
            why = "must start with + and the country code (the lead has no region to read a national number in)";
    }
    if (why != NULL) {
        if (reason != NULL) *reason = why;
        return -1;
    }

    size_t cl = strlen(r.e->cc), pos = 0;
    out[pos++] = '+';
    memcpy(out + pos, r.e->cc, cl);
    pos += cl;
    memcpy(out + pos, r.nsn, r.n);
    pos += r.n;
    out[pos] = '\0';
    if (country_out != NULL) memcpy(country_out, number_country(&r, region), LX_PHONE_COUNTRY_SIZE);
    return 0;
}

int lx_phone_country_matches(const char *e164, const char *country)
{
    char iso[3];
    if (e164 == NULL || e164[0] != '+' || parse_country(country, iso) != 0) return 0;
    const char *d = e164 + 1;
    size_t n = strlen(d);
    if (n < 7 || n > 15 || d[0] == '0' || strspn(d, "0123456789") != n) return 0;
    const cc_t *e = find_cc(d, n);
    if (e == NULL || e->iso == NULL) return 0;
    size_t cl = strlen(e->cc);
    const char *nsn = d + cl;
    if (e->rule == rule_zone7) return strcmp(iso, nsn[0] == '6' || nsn[0] == '7' ? "KZ" : "RU") == 0;
    if (e->rule == rule_nanp) {
        if (n - cl < 3) return 0;
        const char *area = nanp_area_country(nsn);
        if (area[0] == '\0') return strcmp(iso, "US") == 0 || list_has(e->also, iso);
        return strcmp(iso, area) == 0;
    }
    return strcmp(iso, e->iso) == 0 || list_has(e->also, iso);
}

static int is_iso(const char *s)
{
    return s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] == '\0';
}

int lx_phone__check_tables(const char **what)
{
    for (size_t i = 0; i < CC_COUNT; i++) {
        const cc_t *e = &cc_table[i];
        size_t cl = strlen(e->cc);
        if (cl < 1 || cl > 3 || strspn(e->cc, "0123456789") != cl || e->cc[0] == '0')
            return *what = "calling code is not 1 to 3 digits", -1;
        if (i > 0) {
            const char *prev = cc_table[i - 1].cc;
            if (strcmp(prev, e->cc) >= 0) return *what = "calling codes are not sorted", -1;
            if (strncmp(prev, e->cc, strlen(prev)) == 0) return *what = "calling codes are not prefix-free", -1;
        }
        if (e->message == NULL) return *what = "entry without a message", -1;
        if (e->iso == NULL) continue;
        if (!is_iso(e->iso)) return *what = "country is not two upper-case letters", -1;
        for (const char *p = e->also; *p != '\0';) {
            if (!(p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'A' && p[1] <= 'Z' && (p[2] == ' ' || p[2] == '\0')))
                return *what = "shared-code country list is malformed", -1;
            p += p[2] == ' ' ? 3 : 2;
        }
        if (e->nsn_min > e->nsn_max || cl + e->nsn_min < 7 || cl + e->nsn_max > 15)
            return *what = "national number lengths outside E.164's 7 to 15 digits", -1;
        if ((e->flags & CC_LEADING_ZERO) && e->trunk[0] != '\0')
            return *what = "a country with a significant leading zero cannot have a trunk prefix", -1;
        /* Each country is listed once, so a region resolves to exactly one code. */
        for (size_t j = 0; j < i; j++) {
            const cc_t *o = &cc_table[j];
            if (o->iso == NULL) continue;
            if (strcmp(o->iso, e->iso) == 0 || list_has(o->also, e->iso) || list_has(e->also, o->iso))
                return *what = "a country is listed under two calling codes", -1;
            for (const char *p = e->also; *p != '\0'; p += p[2] == ' ' ? 3 : 2)
                if (list_has(o->also, p)) return *what = "a country is listed under two calling codes", -1;
        }
    }
    for (size_t i = 0; i < NANP_AREA_COUNT; i++) {
        unsigned code = nanp_areas[i].code;
        if (code < 200 || code > 999 || (i > 0 && nanp_areas[i - 1].code >= code))
            return *what = "NANP area codes are not sorted three-digit codes", -1;
        const char *iso = nanp_areas[i].iso;
        if (iso[0] != '\0' && strcmp(iso, "CA") != 0 && !list_has(cc_table[0].also, iso))
            return *what = "NANP area code of a country that is not a member", -1;
    }
    return 0;
}
