#!/usr/bin/env python3
"""Deterministic labeled synthetic PII corpus for the scif guardrail detectors.

Usage:
    python3 tests/guardrails/gen_corpus.py > crates/guardrails/tests/data/corpus.jsonl
    python3 tests/guardrails/gen_corpus.py --seed 7 > /tmp/heldout.jsonl   # same templates, new values

Standard library only; seeded, so every run writes the same bytes. One JSON
document per line:

    {"id": "note-0001", "kind": "clinical_note", "text": "...",
     "entities": [{"type": "EMAIL", "start": 10, "end": 27}, ...]}

Annotation follows docs/guardrail-entities.md (the annotation contract):
  * Text is pure ASCII, so byte offsets equal Python string indices.
  * Text is built by concatenating fragments; a span is recorded at the moment
    a value is inserted (never found by searching afterwards) and checked with
    an assert (text[start:end] == inserted value). Spans never overlap and the
    characters just outside each span are never letters or digits.
  * Every synthetic identifier carries a valid checksum where its type has one
    (Luhn cards/SIN/OHIP/IMEI/NPI, ABA, IBAN mod-97, VIN, NHS, UTR, DEA, ...).
  * Hard negatives (order/invoice/tracking numbers, Luhn-failing 16-digit
    numbers, invalid SSN-shaped numbers, bad-checksum IBAN-like strings,
    versions, times, bare years, amounts, doses, ICD/CPT codes, lab values,
    rooms/beds, extensions, hospital and street names, "Austin, TX" without a
    ZIP, drug names, ...) are inserted and never annotated. Their count is
    printed to stderr.

Table convention (chosen once, for the whole corpus): values whose type needs
a context word carry that word INSIDE the cell (e.g. "MRN 00482913",
"SSN 123-45-6789", "acct 000123456789"), so a detector never has to read the
column header. Values that are recognisable by their format alone (names,
e-mails, phones, dates, card numbers, IBANs, VINs, IPs, MACs, URLs, dashed
SSNs, ...) appear bare under a header such as "Name | DOB | Phone". Table
cells are annotated exactly like running text.

Other resolutions of the contract:
  * A fax number is FAX only (never also PHONE).
  * A card expiry is CREDIT_DEBIT_CARD_EXPIRY only (never also DATE).
  * DEA and NPI numbers are CERTIFICATE_LICENSE_NUMBER; an IMEI or implant
    serial is DEVICE_IDENTIFIER; an MBI is HEALTH_PLAN_BENEFICIARY_NUMBER.
  * ITINs use the group ranges 70-88, 90-92, 94-99 only (the contract's
    "9XX-7X-XXXX .. 9XX-99-XXXX"); SSN-shaped negatives in the 9XX area use
    groups outside 50-65 and outside those ranges, so they are neither SSN nor
    ITIN under either reading.
  * NHS numbers are written compact or 3-3-4 with spaces (never dashes, which
    would read as a US phone number); in tables they carry "NHS" in the cell.
  * A bank account number is never also a Luhn-valid 13-19 digit number.
  * In "Austin, TX 78701" only the ZIP is annotated; the city and state are not.
  * A time following a date ("03/15/2024 14:32") is not inside the DATE span;
    ISO timestamps ("2024-03-15T10:22:01Z") are one DATE span.
  * Names: ~75% from the most common US census first/last names, ~25% drawn
    from a pool of names absent from the census lists entirely.
"""
import json
import random
import sys

SEED = 20240315
R = random.Random(SEED)

# ---------------------------------------------------------------- names
CENSUS_F = """Mary Patricia Linda Barbara Elizabeth Jennifer Maria Susan Margaret Dorothy Lisa Nancy Karen Betty Helen
Sandra Donna Carol Ruth Sharon Michelle Laura Sarah Kimberly Deborah Jessica Shirley Cynthia Angela Melissa
Brenda Amy Anna Rebecca Virginia Kathleen Pamela Martha Debra Amanda Stephanie Carolyn Christine Marie Janet
Catherine Frances Ann Joyce Diane Alice Julie Heather Teresa Doris Gloria Evelyn Jean Cheryl Mildred Katherine
Joan Ashley Judith Rose Janice Kelly Nicole Judy Christina Kathy Theresa Beverly Denise Tammy Irene Jane Lori
Rachel Marilyn Andrea Kathryn Louise Sara Anne Jacqueline Wanda Bonnie Julia Ruby Lois Tina Phyllis Norma
Paula Diana Annie Lillian Emily Robin Peggy Crystal Gladys Rita Dawn Connie Florence Tracy Edna Tiffany Carmen
Rosa Cindy Grace Wendy Victoria Edith Kim Sherry Sylvia Josephine Thelma Shannon Sheila Ethel Ellen Elaine
Marjorie Carrie Charlotte Monica Esther Pauline Emma Juanita Anita Rhonda Hazel Amber Eva Debbie April Leslie
Clara Lucille Jamie Joanne Eleanor Valerie Danielle Megan Alicia Suzanne Michele Gail Bertha Darlene Veronica""".split()
CENSUS_M = """James John Robert Michael William David Richard Charles Joseph Thomas Christopher Daniel Paul Mark Donald
George Kenneth Steven Edward Brian Ronald Anthony Kevin Jason Matthew Gary Timothy Jose Larry Jeffrey Frank
Scott Eric Stephen Andrew Raymond Gregory Joshua Jerry Dennis Walter Patrick Peter Harold Douglas Henry Carl
Arthur Ryan Roger Joe Juan Jack Albert Jonathan Justin Terry Gerald Keith Samuel Willie Ralph Lawrence
Nicholas Roy Benjamin Bruce Brandon Adam Harry Fred Wayne Billy Steve Louis Jeremy Aaron Randy Howard Eugene
Carlos Russell Bobby Victor Martin Ernest Phillip Todd Jesse Craig Alan Shawn Clarence Sean Philip Chris
Johnny Earl Jimmy Antonio Danny Bryan Tony Luis Mike Stanley Leonard Nathan Dale Manuel Rodney Curtis Norman
Allen Marvin Vincent Glenn Travis Chad Jacob Lee Melvin Alfred Kyle Francis Bradley Jesus Herbert
Frederick Ray Joel Edwin Don Eddie Ricky Troy Randall Barry Alexander Bernard Mario Leroy Francisco Marcus
Theodore Clifford Miguel Oscar Jay Calvin Alex Jon Ronnie Bill Lloyd""".split()
CENSUS_L = """Smith Johnson Williams Jones Brown Davis Miller Wilson Moore Taylor Anderson Thomas Jackson White Harris
Martin Thompson Garcia Martinez Robinson Clark Rodriguez Lewis Lee Walker Hall Allen Young Hernandez King
Wright Lopez Hill Scott Green Adams Baker Gonzalez Nelson Carter Mitchell Perez Roberts Turner Phillips
Campbell Parker Evans Edwards Collins Stewart Sanchez Morris Rogers Reed Cook Morgan Bell Murphy Bailey Rivera
Cooper Richardson Cox Howard Ward Torres Peterson Gray Ramirez James Watson Brooks Kelly Sanders Price Bennett
Wood Barnes Ross Henderson Coleman Jenkins Perry Powell Long Patterson Hughes Flores Washington Butler Simmons
Foster Gonzales Bryant Alexander Russell Griffin Diaz Hayes Myers Ford Hamilton Graham Sullivan Wallace Woods
Cole West Jordan Owens Reynolds Fisher Ellis Harrison Gibson McDonald Cruz Marshall Ortiz Gomez Murray Freeman
Wells Webb Simpson Stevens Tucker Porter Hunter Hicks Crawford Henry Boyd Mason Morales Kennedy Warren Dixon
Ramos Reyes Burns Gordon Shaw Holmes Rice Robertson Hunt Black Daniels Palmer Mills Nichols Grant Knight
Ferguson Rose Stone Hawkins Dunn Perkins Hudson Spencer Gardner Stephens Payne Pierce Berry Matthews Arnold
Wagner Willis Ray Watkins Olson Carroll Duncan Snyder Hart Cunningham Bradley Lane Andrews Ruiz Harper Fox
Riley Armstrong Carpenter Weaver Greene Lawrence Elliott Chavez Sims Austin Peters Kelley Franklin Lawson
Fields Gutierrez Ryan Schmidt Carr Vasquez Castillo Wheeler Chapman Oliver Montgomery Richards Williamson
Johnston Banks Meyer Bishop McCoy Howell Alvarez Morrison Hansen Fernandez Garza Harvey Little Burton Stanley
Nguyen George Jacobs Reid Kim Fuller Lynch Dean Gilbert Garrett Romero Welch Larson Frazier Burke Hanson Day
Mendoza Moreno Bowman Medina Fowler Brewer Hoffman Carlson Silva Pearson Holland Douglas Fleming Jensen Vargas
Byrd Davidson Hopkins Terry Herrera Wade Soto Walters Curtis Neal Caldwell Lowe Jennings Barnett Graves
Jimenez Horton Shelton Barrett Castro Sutton Gregory McKinney Lucas Miles Craig Chambers Holt
Lambert Fletcher Watts Bates Hale Rhodes Pena Beck Newman Haynes McDaniel Mendez Bush Vaughn Parks Dawson
Santiago Norris Hardy Love Steele Curry Powers Schultz Barker Guzman Page Munoz Ball Keller Chandler Weber
Leonard Walsh Lyons Ramsey Wolfe Schneider Mullins Benson Sharp Bowen Daniel Barber Cummings Hines Baldwin
Griffith Valdez Hubbard Salazar Reeves Warner Stevenson Burgess Santos Tate Cross Garner Mann Mack Moss
Thornton Dennis McGee Farmer Delgado Aguilar Vega Glover Manning Cohen Harmon Rodgers Robbins Newton Todd
Blair Higgins Ingram Reese Cannon Strickland Townsend Potter Goodwin Walton Rowe Hampton Ortega Patton Swanson
Joseph Francis Goodman Maldonado Yates Becker Erickson Hodges Rios Conner Adkins Webster Norman Malone Hammond""".split()
# Checked against the full census first/last name lists: none of these occur there.
RARE_F = """Chukwuemeka Oluwaseun Adebayo Ngozi Chiamaka Folasade Tendai Kwabena Abena Yaw Kofi Ama Tesfaye Abebe
Meseret Wanjiru Kamau Njeri Xiaoming Jiahui Zhiwei Yuxuan Haoran Mei-Ling Hyun-woo Ji-yeon Seo-yeon Minjun
Takumi Haruka Sakura Venkatesh Priyanka Raghav Anjali Sanjay Lakshmi Arjun Divya Abdulrahman Youssef Noor
Zbigniew Wojciech Agnieszka Katarzyna Dmitri Oksana Bogdan Itzel Quetzalli Ximena Anahi Keanu Niamh Eoin
Saoirse Aoife Jyrki Aino Eero Bjorn Sigrun Thandiwe Sipho Lindiwe Nomvula Ikaika Tupac Dumisani Emeka
Nnamdi Kehinde Olamide Yetunde Quang""".split()
RARE_L = """Okonkwo Nwosu Adeyemi Oyelowo Tesfaye Gebremedhin Kariuki Mwangi Otieno Raghunathan Venkataraman
Chattopadhyay Al-Farsi Ivanova Smirnov Kuznetsov Villanueva-Soto Oyarzun Xicotencatl Kahananui Nakoa
Kuusisto Virtanen Lindqvist Dlamini Nkosi Mahlangu Khumalo Ndlovu Oyelaran-Bello Adeleke Eze Nguyen-Tran
Ferreira-Santos Brandao Konstantinidis Yilmaz Ozturk Demir Celik""".split()

STATS = {"rare_names": 0, "names": 0, "hard_negatives": 0}
NEG_KINDS = {}


def person():
    """(first, last)."""
    STATS["names"] += 1
    if R.random() < 0.25:
        STATS["rare_names"] += 1
        return R.choice(RARE_F), R.choice(RARE_L)
    return R.choice(CENSUS_F + CENSUS_M), R.choice(CENSUS_L)


# ---------------------------------------------------------------- document builder
class Neg:
    def __init__(self, kind, s):
        self.kind, self.s = kind, s


class Doc:
    def __init__(self, kind):
        self.kind = kind
        self.buf = []
        self.n = 0
        self.ents = []

    def x(self, *items):
        """Append items: str = plain text, (TYPE, value) = entity, Neg = hard negative."""
        for it in items:
            if isinstance(it, str):
                self.buf.append(it)
                self.n += len(it)
            elif isinstance(it, Neg):
                STATS["hard_negatives"] += 1
                NEG_KINDS[it.kind] = NEG_KINDS.get(it.kind, 0) + 1
                self.buf.append(it.s)
                self.n += len(it.s)
            else:
                typ, val = it
                assert typ in TYPES, typ
                self.ents.append({"type": typ, "start": self.n, "end": self.n + len(val), "_v": val})
                self.buf.append(val)
                self.n += len(val)
        return self

    def finish(self, doc_id):
        text = "".join(self.buf)
        assert len(text) == self.n
        assert text.isascii(), doc_id
        prev_end = -1
        ents = sorted(self.ents, key=lambda e: e["start"])
        for e in ents:
            s, t = e["start"], e["end"]
            assert text[s:t] == e["_v"], (doc_id, e)
            assert s >= prev_end, (doc_id, "overlap", e)
            assert t > s
            if s > 0:
                assert not text[s - 1].isalnum(), (doc_id, "left boundary", e, text[s - 5:t])
            if t < len(text):
                assert not text[t].isalnum(), (doc_id, "right boundary", e, text[s:t + 5])
            prev_end = t
        return {"id": doc_id, "kind": self.kind, "text": text,
                "entities": [{"type": e["type"], "start": e["start"], "end": e["end"]} for e in ents]}


TYPES = """ADDRESS AGE AWS_ACCESS_KEY AWS_SECRET_KEY CA_HEALTH_NUMBER CA_SOCIAL_INSURANCE_NUMBER
CREDIT_DEBIT_CARD_CVV CREDIT_DEBIT_CARD_EXPIRY CREDIT_DEBIT_CARD_NUMBER DRIVER_ID EMAIL
INTERNATIONAL_BANK_ACCOUNT_NUMBER IP_ADDRESS LICENSE_PLATE MAC_ADDRESS NAME PASSWORD PHONE PIN SWIFT_CODE
UK_NATIONAL_HEALTH_SERVICE_NUMBER UK_NATIONAL_INSURANCE_NUMBER UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER URL
USERNAME US_BANK_ACCOUNT_NUMBER US_BANK_ROUTING_NUMBER US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER
US_PASSPORT_NUMBER US_SOCIAL_SECURITY_NUMBER VEHICLE_IDENTIFICATION_NUMBER MEDICAL_RECORD_NUMBER
HEALTH_PLAN_BENEFICIARY_NUMBER FAX CERTIFICATE_LICENSE_NUMBER DEVICE_IDENTIFIER DATE ZIP_CODE""".split()
assert len(TYPES) == 38

# ---------------------------------------------------------------- helpers
DIG = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def digits(n, first_nonzero=False):
    s = "".join(R.choice(DIG) for _ in range(n))
    if first_nonzero and s[0] == "0":
        s = R.choice("123456789") + s[1:]
    return s


def luhn_ok(s):
    tot = 0
    for i, ch in enumerate(reversed(s)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        tot += d
    return tot % 10 == 0


def luhn_complete(prefix):
    for c in DIG:
        if luhn_ok(prefix + c):
            return prefix + c
    raise AssertionError


def group(s, sizes, sep):
    out, i = [], 0
    for k in sizes:
        out.append(s[i:i + k])
        i += k
    return sep.join(out)


# --- cards
def card_number():
    kind = R.choice(["visa", "visa", "mc", "mc2", "amex", "disc", "jcb", "visa13", "diners"])
    if kind == "visa":
        raw, sizes = luhn_complete("4" + digits(14)), [4, 4, 4, 4]
    elif kind == "visa13":
        raw, sizes = luhn_complete("4" + digits(11)), [4, 4, 5]
    elif kind == "mc":
        raw, sizes = luhn_complete(str(R.randint(51, 55)) + digits(13)), [4, 4, 4, 4]
    elif kind == "mc2":
        raw, sizes = luhn_complete(str(R.randint(2221, 2720)) + digits(11)), [4, 4, 4, 4]
    elif kind == "amex":
        raw, sizes = luhn_complete(R.choice(["34", "37"]) + digits(12)), [4, 6, 5]
    elif kind == "disc":
        raw, sizes = luhn_complete(R.choice(["6011", "6500", "6521"]) + digits(11)), [4, 4, 4, 4]
    elif kind == "jcb":
        raw, sizes = luhn_complete(str(R.randint(3528, 3589)) + digits(11)), [4, 4, 4, 4]
    else:
        raw, sizes = luhn_complete("36" + digits(11)), [4, 6, 4]
    fmt = R.random()
    if fmt < 0.35:
        return raw
    return group(raw, sizes, " " if fmt < 0.75 else "-")


def bad_card():
    while True:
        s = "4" + digits(15)
        if not luhn_ok(s):
            return R.choice([s, group(s, [4, 4, 4, 4], " ")])


def cvv(amex=False):
    return digits(4 if amex else 3)


def expiry():
    m = "%02d" % R.randint(1, 12)
    y = R.randint(2025, 2032)
    return m + "/" + (str(y)[2:] if R.random() < 0.7 else str(y))


# --- US ids
def ssn(fmt=None):
    while True:
        area = R.randint(1, 899)
        if area != 666:
            break
    g, s = R.randint(1, 99), R.randint(1, 9999)
    fmt = fmt or R.choice(["-", "-", "-", " "])
    return "%03d%s%02d%s%04d" % (area, fmt, g, fmt, s)


def ssn_compact():
    return ssn("-").replace("-", "")


def bad_ssn():
    area = R.choice(["000", "666", "9%02d" % R.randint(0, 99)])
    # a 9XX area with any ITIN group (50-65 included, as IRS and most detectors accept it) would be an ITIN
    g = R.choice([R.randint(1, 49), R.randint(66, 69), 89, 93]) if area.startswith("9") else R.randint(1, 99)
    return "%s-%02d-%04d" % (area, g, R.randint(1, 9999))


def itin():
    g = R.choice(list(range(70, 89)) + [90, 91, 92] + list(range(94, 100)))
    sep = R.choice(["-", "-", "-", " "])
    return "9%02d%s%02d%s%04d" % (R.randint(0, 99), sep, g, sep, R.randint(0, 9999))


def aba():
    while True:
        p = "%02d" % R.choice(list(range(1, 13)) + list(range(21, 33)) + list(range(61, 73)) + [80])
        body = p + digits(6)
        for c in DIG:
            d = [int(ch) for ch in body + c]
            if (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0:
                return body + c


def bank_account():
    while True:  # never something that also reads as a Luhn-valid card number
        s = digits(R.randint(8, 17))
        if not (13 <= len(s) <= 19 and luhn_ok(s)):
            return s


def passport():
    return digits(9, True) if R.random() < 0.5 else R.choice(UPPER) + digits(8)


def driver_id():
    r = R.random()
    if r < 0.6:
        return R.choice(UPPER) + digits(R.randint(7, 12))
    return digits(R.randint(7, 9), True)


# --- IBAN
IBAN_SPEC = {  # country: list of (charset, count) for the BBAN
    "GB": [("A", 4), ("9", 14)],
    "DE": [("9", 18)],
    "FR": [("9", 10), ("X", 11), ("9", 2)],
    "ES": [("9", 20)],
    "IT": [("A", 1), ("9", 10), ("X", 12)],
    "NL": [("A", 4), ("9", 10)],
    "CH": [("9", 5), ("X", 12)],
}
IBAN_LEN = {"GB": 22, "DE": 22, "FR": 27, "ES": 24, "IT": 27, "NL": 18, "CH": 21}


def _iban_num(s):
    return int("".join(str(int(ch, 36)) for ch in s))


def iban(valid=True):
    cc = R.choice(list(IBAN_SPEC))
    bban = ""
    for cs, n in IBAN_SPEC[cc]:
        for _ in range(n):
            if cs == "A":
                bban += R.choice(UPPER)
            elif cs == "9":
                bban += R.choice(DIG)
            else:
                bban += R.choice(DIG * 3 + UPPER)
    chk = 98 - _iban_num(bban + cc + "00") % 97
    if not valid:
        chk = (chk + R.randint(1, 96)) % 97
        if chk < 2:
            chk += 2
    s = cc + "%02d" % chk + bban
    assert len(s) == IBAN_LEN[cc]
    assert (_iban_num(s[4:] + s[:4]) % 97 == 1) == valid
    if R.random() < 0.5:
        return " ".join(s[i:i + 4] for i in range(0, len(s), 4))
    return s


def swift():
    bank = R.choice(["DEUT", "BOFA", "CHAS", "BARC", "HSBC", "NWBK", "BNPA", "COBA", "INGB", "UBSW", "CITI",
                     "RABO", "BSCH", "UNCR", "WFBI", "LOYD", "SOGE", "CRES", "ABNA", "CAIX"])
    cc = R.choice(["DE", "US", "GB", "FR", "NL", "CH", "ES", "IT", "CA", "SG"])
    loc = R.choice(["FF", "33", "2L", "3N", "22", "PP", "MM", "ZZ", "2A", "LL"])
    s = bank + cc + loc
    if R.random() < 0.4:
        s += R.choice(["XXX", "500", "123", "BER", "NYC", "LON"])
    return s


# --- UK / CA ids
def nhs():
    while True:
        d = digits(9, True)
        tot = sum(int(c) * w for c, w in zip(d, range(10, 1, -1)))
        chk = 11 - tot % 11
        if chk == 11:
            chk = 0
        if chk == 10:
            continue
        s = d + str(chk)
        return R.choice([group(s, [3, 3, 4], " "), group(s, [3, 3, 4], " "), s])


def nino():
    bad1, bad2 = set("DFIQUV"), set("DFIOQUV")
    while True:
        a, b = R.choice(UPPER), R.choice(UPPER)
        if a in bad1 or b in bad2 or a + b in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
            continue
        n = digits(6)
        suf = R.choice("ABCD")
        if R.random() < 0.6:
            return a + b + n + suf
        return "%s%s %s %s %s %s" % (a, b, n[:2], n[2:4], n[4:], suf)


def utr():
    W = [6, 7, 8, 9, 10, 5, 4, 3, 2]
    rest = digits(9)
    r = sum(int(c) * w for c, w in zip(rest, W)) % 11
    s = str([2, 1, 9, 8, 7, 6, 5, 4, 3, 2, 1][r]) + rest
    return s if R.random() < 0.8 else s[:5] + " " + s[5:]


def sin():
    while True:
        s = luhn_complete(R.choice("1234567") + digits(7))
        if s[0] not in "08":
            return group(s, [3, 3, 3], R.choice([" ", "-"]))


def ohip():
    s = luhn_complete(digits(9, True))
    r = R.random()
    if r < 0.4:
        out, sep = group(s, [4, 3, 3], "-"), "-"
    elif r < 0.7:
        out, sep = group(s, [4, 3, 3], " "), " "
    else:
        out, sep = s, R.choice(["", " "])
    if R.random() < 0.5:  # version code, joined like the digit groups
        out += sep + R.choice(UPPER) + R.choice(UPPER)
    return out


# --- vehicles
VIN_TR = {**{str(i): i for i in range(10)},
          **dict(zip("ABCDEFGH", range(1, 9))), **dict(zip("JKLMN", range(1, 6))), "P": 7, "R": 9,
          **dict(zip("STUVWXYZ", range(2, 10)))}
VIN_W = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
VIN_CH = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def vin():
    wmi = R.choice(["1HG", "1FT", "JHM", "WBA", "5YJ", "3VW", "2T1", "KMH", "1G1", "JTD", "WDD", "4T1", "SAL"])
    body = wmi + "".join(R.choice(VIN_CH) for _ in range(5))
    year = R.choice("ABCDEFGHJKLMNPRSTVWXY123456789")
    tail = R.choice(VIN_CH) + digits(6)
    s = body + "0" + year + tail
    tot = sum(VIN_TR[c] * w for c, w in zip(s, VIN_W))
    chk = tot % 11
    s = body + ("X" if chk == 10 else str(chk)) + year + tail
    assert sum(VIN_TR[c] * w for c, w in zip(s[:8] + "0" + s[9:], VIN_W)) % 11 == chk
    return s


def plate():
    f = R.choice(["7ABC123", "ABC-1234", "ABC 123", "AB12 CDE", "1ABC234", "ABC1234", "XYZ-789", "4GHJ82"])
    out = ""
    for ch in f:
        if ch.isdigit():
            out += R.choice(DIG)
        elif ch.isalpha():
            out += R.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
        else:
            out += ch
    return out


# --- medical ids
def dea(last):
    while True:
        d = digits(6)
        c = ((int(d[0]) + int(d[2]) + int(d[4])) + 2 * (int(d[1]) + int(d[3]) + int(d[5]))) % 10
        first = R.choice("ABFGMPRX")
        second = last[0].upper() if last[0].isalpha() else "X"
        return first + second + d + str(c)


def npi():
    body = R.choice("12") + digits(8)
    full = luhn_complete("80840" + body)
    return body + full[-1]


def imei():
    return luhn_complete(R.choice(["35", "86", "01", "49"]) + digits(12))


def mbi():
    NL = "ACDEFGHJKMNPQRTUVWXY"
    AN = NL + DIG
    s = (R.choice("123456789") + R.choice(NL) + R.choice(AN) + R.choice(DIG) + R.choice(NL) + R.choice(AN)
         + R.choice(DIG) + R.choice(NL) + R.choice(NL) + R.choice(DIG) + R.choice(DIG))
    return s if R.random() < 0.6 else s[:4] + "-" + s[4:7] + "-" + s[7:]


def member_id():
    r = R.random()
    if r < 0.3:
        return mbi()
    if r < 0.55:
        return R.choice(["XJH", "W", "ZGP", "MEM", "BCX"]) + digits(R.randint(6, 9))
    if r < 0.8:
        return "%s-%s-%s" % (R.choice(UPPER) + digits(2), digits(3), digits(3))
    return digits(R.randint(9, 12))


def mrn():
    r = R.random()
    if r < 0.5:
        return digits(R.randint(6, 10))
    if r < 0.8:
        return R.choice(UPPER) + digits(R.randint(6, 9))
    return R.choice(["MR", "HX", "CH"]) + digits(R.randint(5, 8))


def state_license():
    return R.choice(["MD", "RN", "G", "A", "PA", "NP", "DO", "C"]) + digits(R.randint(5, 8))


def serial():
    r = R.random()
    if r < 0.35:
        return R.choice(["PX", "MDT", "SJM", "BSC", "ABT", "TND"]) + digits(R.randint(5, 9))
    if r < 0.7:
        return "%s-%s-%s" % (R.choice(UPPER) + R.choice(UPPER) + digits(1), digits(5), R.choice(UPPER) * 2)
    return digits(14)


# --- network / secrets
def ipv4():
    return "%d.%d.%d.%d" % (R.choice([10, 172, 192, 8, 34, 52, 100, 203, 45, 185]), R.randint(0, 255),
                            R.randint(0, 255), R.randint(1, 254))


def ipv6():
    hx = lambda: "%x" % R.randint(0, 0xffff)
    r = R.random()
    if r < 0.35:
        return ":".join(hx() for _ in range(8))
    if r < 0.7:
        return "2001:db8:%s::%s" % (hx(), hx())
    return "fe80::%s:%s:%s:%s" % (hx(), hx(), hx(), hx())


def bad_ip():
    return "%d.%d.%d.%d" % (R.randint(256, 999), R.randint(0, 255), R.randint(0, 255), R.randint(0, 255))


def mac():
    sep = R.choice([":", ":", "-"])
    s = sep.join("%02x" % R.randint(0, 255) for _ in range(6))
    return s.upper() if R.random() < 0.5 else s


def aws_access():
    return R.choice(["AKIA", "AKIA", "ASIA"]) + "".join(R.choice(UPPER + "234567") for _ in range(16))


def aws_secret():
    cs = UPPER + UPPER.lower() + DIG + "/+"
    while True:
        s = "".join(R.choice(cs) for _ in range(40))
        if s[0].isalnum() and s[-1].isalnum():
            return s


def password():
    words = ["hunter", "Summer", "Winter", "Tr0ub4dor", "letmein", "Passw0rd", "dragon", "Sunshine", "Qwerty",
             "monkey", "Falcon", "Orchid"]
    r = R.random()
    if r < 0.5:
        return R.choice(words) + R.choice(["!", "#", "$", "@", "_"]) + digits(R.randint(2, 4))
    cs = UPPER + UPPER.lower() + DIG + "!#$%^&*_-"
    s = "".join(R.choice(cs) for _ in range(R.randint(10, 18)))
    return R.choice(UPPER.lower()) + s + R.choice(DIG)


def username(first, last):
    f, l = first.lower().replace("-", ""), last.lower().replace("-", "").replace("'", "")
    return R.choice([f[0] + l, f + "." + l, f + "_" + l + digits(2), l + f[0], "svc_" + l, f + digits(3)])


DOMAINS = ["example.com", "mercyhealth.org", "acmecorp.com", "stjude-clinic.org", "contoso.net", "fabrikam.io",
           "northwind.co.uk", "globex.de", "initech.com", "umbrella-labs.com", "va.gov", "gmail.com", "yahoo.com",
           "outlook.com", "protonmail.com", "healthpartners.net", "lakeside-med.org"]


def email(first, last):
    f, l = first.lower().replace("-", ""), last.lower().replace("-", "").replace("'", "")
    local = R.choice([f + "." + l, f[0] + l, f + l[0], f + "_" + l, l + "." + f + digits(2), f + digits(2)])
    return local + "@" + R.choice(DOMAINS)


def url():
    host = R.choice(["portal.mercyhealth.org", "www.acmecorp.com", "api.contoso.net", "intranet.globex.de",
                     "files.fabrikam.io", "status.initech.com", "www.northwind.co.uk", "git.umbrella-labs.com"])
    path = R.choice(["", "/login", "/patients/4412/chart", "/api/v2/users?id=8812", "/docs/onboarding.pdf",
                     "/reset?token=a8f3e1", "/billing/statements", "/s3/bucket-logs/2024/"])
    if host.startswith("www.") and R.random() < 0.4:
        return host + path
    return R.choice(["https://", "https://", "http://"]) + host + path


# --- dates, ages, phones
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def date(kind=None, lo=1930):
    y, m, d = R.randint(lo, 2026), R.randint(1, 12), R.randint(1, 28)
    k = kind or R.choice(["us", "us", "us_short", "iso", "long", "long", "euro", "short_month", "abbr_year"])
    if k == "us":
        return "%02d/%02d/%04d" % (m, d, y)
    if k == "us_short":
        return "%d/%d/%02d" % (m, d, y % 100)
    if k == "iso":
        return "%04d-%02d-%02d" % (y, m, d)
    if k == "long":
        return "%s %d, %d" % (MONTHS[m - 1], d, y)
    if k == "euro":
        return "%d %s %d" % (d, MONTHS[m - 1], y)
    if k == "short_month":
        return "%s %d" % (MONTHS[m - 1][:3], d)
    return "%s %d, %d" % (MONTHS[m - 1][:3], d, y)


def recent_date(kind=None):
    return date(kind, lo=2018)


def timestamp():
    return "2024-%02d-%02dT%02d:%02d:%02d%s" % (R.randint(1, 12), R.randint(1, 28), R.randint(0, 23),
                                                 R.randint(0, 59), R.randint(0, 59),
                                                 R.choice(["Z", "Z", ".%03dZ" % R.randint(0, 999), "+00:00"]))


def us_phone_parts():
    a = R.choice("23456789") + digits(2)
    e = R.choice("23456789") + digits(2)
    return a, e, digits(4)


def phone():
    r = R.random()
    a, e, n = us_phone_parts()
    if r < 0.25:
        return "(%s) %s-%s" % (a, e, n)
    if r < 0.45:
        return "%s-%s-%s" % (a, e, n)
    if r < 0.55:
        return "%s.%s.%s" % (a, e, n)
    if r < 0.7:
        return "+1 %s %s %s" % (a, e, n)
    if r < 0.78:
        return "+44 20 %s %s" % (digits(4), digits(4))
    if r < 0.84:
        return "+49 30 %s" % digits(8)
    if r < 0.9:
        return "+33 1 %s %s %s %s" % (digits(2), digits(2), digits(2), digits(2))
    if r < 0.95:
        return "+91 98%s %s" % (digits(3), digits(5))
    return "+1-%s-%s-%s" % (a, e, n)


STREETS = ["Oak", "Maple", "Pennsylvania", "Cedar", "Elm", "Washington", "Lakeview", "Sunset", "Highland",
           "Martin Luther King Jr", "Peachtree", "Mission", "Riverside", "Willow Creek", "Cherry Hill", "3rd",
           "42nd", "Magnolia", "Juniper", "El Camino Real", "Kalakaua", "Spring Garden"]
SUFFIX = ["Street", "St", "Ave", "Avenue", "Blvd", "Rd", "Road", "Dr", "Drive", "Ln", "Lane", "Way", "Ct", "Pl"]
CITIES = [("Austin", "TX"), ("Denver", "CO"), ("Portland", "OR"), ("Columbus", "OH"), ("Tampa", "FL"),
          ("Fresno", "CA"), ("Albany", "NY"), ("Raleigh", "NC"), ("Tucson", "AZ"), ("Omaha", "NE"),
          ("Boise", "ID"), ("Richmond", "VA"), ("Madison", "WI"), ("Honolulu", "HI"), ("Bethesda", "MD"),
          ("Worcester", "MA"), ("Savannah", "GA"), ("Spokane", "WA")]


def address():
    r = R.random()
    if r < 0.1:
        return "PO Box " + digits(R.randint(3, 5), True)
    s = "%d %s %s" % (R.randint(1, 19999), R.choice(STREETS), R.choice(SUFFIX))
    if R.random() < 0.2:
        s += " " + R.choice(["NW", "NE", "SW", "SE", "N", "S"])
    if R.random() < 0.25:
        s += ", " + R.choice(["Apt 4B", "Suite 210", "Unit 7", "Apt 12", "Ste 300", "#5"])
    return s


def zipc():
    z = digits(5, True)
    return z + "-" + digits(4) if R.random() < 0.25 else z


def age_items(old=None, f=None):
    """Items for an age statement; the span is the number only."""
    if old is None:
        old = R.random() < 0.35
    a = str(R.randint(90, 104) if old else R.randint(18, 88))
    if f is None:
        f = R.randint(0, 5)
    if f == 0:
        return ["age ", ("AGE", a)]
    if f == 1:
        return [("AGE", a), "-year-old"]
    if f == 2:
        return [("AGE", a), " years old"]
    if f == 3:
        return ["aged ", ("AGE", a)]
    if f == 4:
        return ["Age: ", ("AGE", a)]
    return [("AGE", a), " y/o"]


def full_name():
    f, l = person()
    return f, l, f + " " + l


# ---------------------------------------------------------------- hard negatives
DRUGS = ["Metformin", "Lisinopril", "Atorvastatin", "Amlodipine", "Levothyroxine", "Apixaban", "Furosemide",
         "Gabapentin", "Insulin glargine", "Sertraline", "Prednisone", "Warfarin", "Omeprazole"]
HOSPITALS = ["General Hospital", "St. Mary's Medical Center", "Mercy Regional", "Lakeside Clinic",
             "Providence Heart Institute", "Riverside Children's Hospital", "Memorial Hermann"]


def neg(kind=None):
    k = kind or R.choice(list(NEG_GEN))
    return Neg(k, NEG_GEN[k]())


NEG_GEN = {
    "order": lambda: "Order #%s-%d-%05d" % (R.choice(UPPER), R.randint(2019, 2025), R.randint(0, 99999)),
    "invoice": lambda: "INV-%06d" % R.randint(0, 999999),
    "ticket": lambda: R.choice(["ticket ", "case ", "JIRA "]) + R.choice(["OPS-", "SEC-", "#", "INC"]) + digits(5),
    "tracking": lambda: R.choice(["tracking 1Z" + digits(2) + "X" + digits(3) + "E" + digits(8),
                                  "tracking no. 9400" + digits(18)]),
    "bad_card": lambda: "ref " + bad_card(),
    "bad_ssn": lambda: "claim ref " + bad_ssn(),
    "nine_digit": lambda: "confirmation " + digits(9, True),
    "bad_iban": lambda: "old ref " + iban(valid=False),
    "version": lambda: R.choice(["v", "version ", "release "]) + "%d.%d.%d" % (R.randint(0, 12), R.randint(0, 30),
                                                                          R.randint(0, 99)),
    "build": lambda: "build " + R.choice(["b", "#", ""]) + digits(R.randint(4, 7)) + R.choice(["", "-rc1", "-beta"]),
    "time": lambda: "%02d:%02d" % (R.randint(0, 23), R.randint(0, 59)),
    "year": lambda: R.choice(["in ", "since ", "back in ", "during "]) + str(R.randint(1985, 2024)),
    "amount": lambda: R.choice(["$%d,%03d.%02d" % (R.randint(1, 99), R.randint(0, 999), R.randint(0, 99)),
                                "$%d.%02d" % (R.randint(1, 999), R.randint(0, 99)), "EUR %d.00" % R.randint(5, 9000)]),
    "dose": lambda: "%s %d mg" % (R.choice(DRUGS), R.choice([5, 10, 20, 25, 40, 50, 81, 100, 250, 500, 1000])),
    "icd": lambda: R.choice(["E11.9", "I10", "J44.1", "N18.3", "F32.A", "M54.5", "Z79.4", "I48.91", "E78.5"]),
    "cpt": lambda: "CPT " + R.choice(["99213", "99214", "93000", "80053", "85025", "71046", "36415"]),
    "lab": lambda: R.choice(["HbA1c %d.%d%%" % (R.randint(5, 12), R.randint(0, 9)), "K %d.%d mmol/L" % (R.randint(3, 5), R.randint(0, 9)),
                             "creatinine 1.%d mg/dL" % R.randint(0, 9), "WBC %d.%d" % (R.randint(3, 18), R.randint(0, 9)),
                             "LDL %d mg/dL" % R.randint(60, 220), "eGFR %d" % R.randint(15, 110)]),
    "room": lambda: R.choice(["Room %d" % R.randint(100, 999), "Bed %d%s" % (R.randint(1, 40), R.choice("AB")),
                              "Rm %d, Bed %s" % (R.randint(100, 999), R.choice("ABCD"))]),
    "ext": lambda: "ext. %d" % R.randint(100, 9999),
    "hospital": lambda: R.choice(HOSPITALS),
    "street_alone": lambda: R.choice(["Main Street", "Elm Street", "Market Street", "Broadway", "Route 9"]),
    "city_state": lambda: "%s, %s" % R.choice(CITIES),
    "drug": lambda: R.choice(DRUGS),
    "bad_ip": lambda: "node " + bad_ip(),
}


# ---------------------------------------------------------------- document kinds
def sign_off():
    return R.choice(["Thanks,", "Best regards,", "Regards,", "Sincerely,", "Cheers,", "Kind regards,"])


def gen_note():
    d = Doc("clinical_note")
    pf, pl, pn = full_name()
    df_, dl, _ = full_name()
    old = R.random() < 0.4
    d.x("PATIENT: ", ("NAME", pn), "    DOB: ", ("DATE", date(R.choice(["us", "iso", "long"]))), "    MRN: ",
        ("MEDICAL_RECORD_NUMBER", mrn()), "\n")
    d.x("Date of service: ", ("DATE", recent_date()), " ", neg("time"), "   ", neg("room"), ", ", neg("hospital"), "\n")
    if R.random() < 0.4:
        d.x("Address: ", ("ADDRESS", address()), ", ")
        c, st = R.choice(CITIES)
        d.x(c, ", ", st, " ", ("ZIP_CODE", zipc()), "\n")
    if R.random() < 0.6:
        if R.random() < 0.3:
            d.x("Insurance: Medicare, ", R.choice(["MBI ", "Medicare number ", "beneficiary "]),
                ("HEALTH_PLAN_BENEFICIARY_NUMBER", mbi()), "\n")
        else:
            d.x("Insurance: ", R.choice(["Aetna", "BCBS", "UnitedHealthcare", "Cigna", "Humana"]), ", ",
                R.choice(["member ID ", "Member #", "subscriber ID ", "policy number "]),
                ("HEALTH_PLAN_BENEFICIARY_NUMBER", member_id()), "\n")
    d.x("\nHPI: ")
    if R.random() < 0.5:
        d.x("Patient is a ", *age_items(old, R.choice([1, 5])), " ", R.choice(["male", "female", "man", "woman"]),
            " with a history of ", R.choice(["type 2 diabetes", "CHF", "COPD", "atrial fibrillation", "CKD stage 3"]),
            " (", neg("icd"), ") presenting with ", R.choice(["dyspnea", "chest pain", "fatigue", "dizziness",
                                                              "a fall at home"]), ". ")
    else:
        d.x(R.choice(["Mr. ", "Ms. ", "Mrs. "]), ("NAME", pl), " is ", *age_items(old, R.choice([0, 2, 3])), " and reports ",
            R.choice(["worsening edema", "intermittent palpitations", "poor appetite", "a productive cough"]),
            " since ", ("DATE", recent_date(R.choice(["long", "short_month", "us"]))), ". ")
    d.x(R.choice(["Symptoms began ", "Onset was noted "]), neg("year"), ". ",
        R.choice(["Daughter ", "Son ", "Spouse ", "Caregiver "]), ("NAME", " ".join(full_name()[:2])),
        " can be reached at ", ("PHONE", phone()), " ", neg("ext"), ".\n")
    d.x("Vitals: BP %d/%d, HR %d, T %d.%d F, SpO2 %d%%. Labs: " % (R.randint(95, 180), R.randint(55, 105),
                                                                R.randint(50, 120), R.randint(97, 101),
                                                                R.randint(0, 9), R.randint(88, 100)),
        neg("lab"), ", ", neg("lab"), ".\n")
    d.x("Meds: ", neg("dose"), " daily; ", neg("dose"), " BID; ", neg("drug"), " PRN.\n")
    r = R.random()
    if r < 0.35:
        d.x("Device: ", R.choice(["insulin pump", "ICD", "pacemaker", "CGM", "neurostimulator"]), " ",
            R.choice(["serial ", "S/N ", "SN: ", "device ID ", "UDI "]), ("DEVICE_IDENTIFIER", serial()), ".\n")
    elif r < 0.55:
        d.x("Remote monitor cellular module IMEI ", ("DEVICE_IDENTIFIER", imei()), " paired ",
            ("DATE", recent_date("us")), ".\n")
    if R.random() < 0.4:
        c, st = R.choice(CITIES)
        d.x("Referral to cardiology at ", neg("hospital"), ", ", c, ", ", st, " ", ("ZIP_CODE", zipc()),
            "; fax records to ", ("FAX", phone()), " (", neg("cpt"), ").\n")
    if R.random() < 0.2:
        d.x("SSN on file: ", ("US_SOCIAL_SECURITY_NUMBER", ssn()), ". ")
        d.x("Billing ", neg("invoice"), ".\n")
    d.x("Plan: continue current regimen, follow up in 2 weeks.\n")
    d.x("\nElectronically signed: Dr. ", ("NAME", df_ + " " + dl), ", ", R.choice(["MD", "DO", "NP", "PA-C"]), "\n")
    r = R.random()
    if r < 0.45:
        d.x("DEA ", ("CERTIFICATE_LICENSE_NUMBER", dea(dl)), "  NPI ", ("CERTIFICATE_LICENSE_NUMBER", npi()), "\n")
    elif r < 0.75:
        d.x("NPI: ", ("CERTIFICATE_LICENSE_NUMBER", npi()), "  license number ",
            ("CERTIFICATE_LICENSE_NUMBER", state_license()), "\n")
    else:
        d.x("DEA# ", ("CERTIFICATE_LICENSE_NUMBER", dea(dl)), "\n")
    if R.random() < 0.25:
        d.x("Clinic: ", ("PHONE", phone()), "  Fax: ", ("FAX", phone()), "\n")
    return d


def email_header(d, sender_first, sender_last, to_first, to_last):
    d.x("From: ", ("NAME", sender_first + " " + sender_last), " <", ("EMAIL", email(sender_first, sender_last)), ">\n")
    d.x("To: ", ("EMAIL", email(to_first, to_last)), "\n")
    d.x("Date: ", ("DATE", recent_date(R.choice(["long", "abbr_year", "us"]))), "\n")


def signature(d, f, l):
    d.x("\n", sign_off(), "\n", ("NAME", f + " " + l), "\n")
    d.x(R.choice(["Accounts Payable", "Practice Manager", "HR Business Partner", "Billing Specialist",
                  "Operations Lead"]), ", ", R.choice(["Acme Corp", "Lakeside Clinic", "Globex GmbH", "Initech"]),
        "\n")
    if R.random() < 0.7:
        c, st = R.choice(CITIES)
        d.x(("ADDRESS", address()), "\n", c, ", ", st, " ", ("ZIP_CODE", zipc()), "\n")
    d.x(R.choice(["P: ", "Tel: ", "Phone: ", "Mobile: ", "Direct: "]), ("PHONE", phone()))
    if R.random() < 0.3:
        d.x(" ", neg("ext"))
    if R.random() < 0.6:
        d.x(R.choice([" | F: ", "\nFax: ", " | Fax "]), ("FAX", phone()))
    d.x("\n")
    if R.random() < 0.4:
        d.x(("URL", url()), "\n")


def gen_email():
    d = Doc("email")
    sf, sl, _ = full_name()
    tf, tl, _ = full_name()
    email_header(d, sf, sl, tf, tl)
    sub = R.choice(["bank", "card", "ukhr", "ca", "ustax", "plain"])
    greet = R.choice(["Dear ", "Hi ", "Hello "])
    d.x("Subject: ", {"bank": "Wire transfer details", "card": "Payment confirmation", "ukhr": "Your employment letter",
                      "ca": "Benefits enrolment", "ustax": "W-7 / tax documents", "plain": "Follow-up"}[sub], "\n\n")
    if greet == "Dear ":
        d.x(greet, ("NAME", tf), ",\n\n")
    else:
        d.x(greet, ("NAME", tf + " " + tl), ",\n\n")
    if sub == "bank":
        d.x("Please remit ", neg("amount"), " for ", neg("invoice"), " to the account below.\n")
        d.x("Beneficiary: ", ("NAME", " ".join(full_name()[:2])), "\n")
        if R.random() < 0.6:
            d.x("IBAN: ", ("INTERNATIONAL_BANK_ACCOUNT_NUMBER", iban()), "\n",
                R.choice(["SWIFT: ", "BIC: ", "SWIFT/BIC "]), ("SWIFT_CODE", swift()), "\n")
        if R.random() < 0.7:
            d.x(R.choice(["Routing: ", "ABA ", "RTN: ", "routing number "]), ("US_BANK_ROUTING_NUMBER", aba()), "\n",
                R.choice(["Account: ", "Acct # ", "account number ", "Checking ", "savings acct "]),
                ("US_BANK_ACCOUNT_NUMBER", bank_account()), "\n")
        d.x("Note the previous ", neg("bad_iban"), " is closed; do not use it.\n")
    elif sub == "card":
        d.x("We charged ", neg("amount"), " to the card ending as below (", neg("order"), ").\n")
        num = card_number()
        amex = num.replace(" ", "").replace("-", "")[:2] in ("34", "37")
        d.x("Card: ", ("CREDIT_DEBIT_CARD_NUMBER", num), "  ", R.choice(["exp ", "Exp: ", "expires ", "expiry "]),
            ("CREDIT_DEBIT_CARD_EXPIRY", expiry()), "  ", R.choice(["CVV ", "CVC: ", "CVV2 ", "security code "]),
            ("CREDIT_DEBIT_CARD_CVV", cvv(amex)), "\n")
        if R.random() < 0.5:
            d.x("For the phone line use PIN ", ("PIN", digits(R.randint(4, 6))), ". ")
        d.x("Our reference ", neg("bad_card"), " is internal only.\n")
    elif sub == "ukhr":
        d.x("This confirms your start on ", ("DATE", recent_date(R.choice(["euro", "long"]))), " at ",
            neg("amount"), " per annum.\n")
        d.x("National Insurance number: ", ("UK_NATIONAL_INSURANCE_NUMBER", nino()), "\n")
        d.x(R.choice(["NHS number: ", "NHS No. ", "NHS "]), ("UK_NATIONAL_HEALTH_SERVICE_NUMBER", nhs()), "\n")
        d.x(R.choice(["UTR: ", "Unique Taxpayer Reference ", "UTR "]), ("UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER", utr()),
            "\n")
        d.x("Home address on file: ", ("ADDRESS", address()), ", London.\n")
    elif sub == "ca":
        d.x("To enrol we need your SIN ", ("CA_SOCIAL_INSURANCE_NUMBER", sin()), " and ",
            R.choice(["OHIP number ", "health card ", "health number "]), ("CA_HEALTH_NUMBER", ohip()), ".\n")
        d.x("Effective ", ("DATE", recent_date()), ". Plan ", neg("version"), " of the booklet applies.\n")
    elif sub == "ustax":
        d.x("Your ", R.choice(["ITIN ", "ITIN: "]), ("US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER", itin()),
            " was issued; spouse ", R.choice(["SSN ", "social security number "]),
            ("US_SOCIAL_SECURITY_NUMBER", ssn() if R.random() < 0.6 else ssn_compact()), ".\n")
        d.x("Copy of passport ", ("US_PASSPORT_NUMBER", passport()), " received ", ("DATE", recent_date()), ".\n")
        d.x("Ignore ", neg("bad_ssn"), " on the old form.\n")
    else:
        d.x(R.choice(["May we move the meeting", "Will you join the call", "Following up on"]), " ",
            R.choice(["to Thursday", "about the Q3 budget", "re ", ""]), neg("ticket"), "? We meet at ",
            neg("hospital"), " on ", neg("street_alone"), " in ", neg("city_state"), " at ", neg("time"), ".\n")
        d.x("You can also reach ", ("NAME", " ".join(full_name()[:2])), " at ", ("EMAIL", email(*full_name()[:2])),
            ".\n")
    signature(d, sf, sl)
    return d


LOG_LEVELS = ["INFO", "WARN", "ERROR", "DEBUG"]


def gen_log():
    d = Doc("log")
    svc = R.choice(["authd", "api-gateway", "billing-worker", "ehr-sync", "vpn", "s3-uploader"])
    n = R.randint(3, 4)
    for _ in range(n):
        d.x(("DATE", timestamp()), " ", R.choice(LOG_LEVELS), " ", svc, "[", str(R.randint(100, 32000)), "] ")
        f, l, _ = full_name()
        k = R.randint(0, 11)
        if k == 0:
            d.x("login ok user=", ("USERNAME", username(f, l)), " src=", ("IP_ADDRESS", ipv4()), "\n")
        elif k == 1:
            d.x("failed login username: ", ("USERNAME", username(f, l)), " from ",
                ("IP_ADDRESS", ipv6() if R.random() < 0.6 else ipv4()), " attempt 3\n")
        elif k == 2:
            d.x("dhcp lease ", ("IP_ADDRESS", ipv4()), " -> ", ("MAC_ADDRESS", mac()), " ", neg("time"), "\n")
        elif k == 3:
            d.x("config loaded: db_host=", ("IP_ADDRESS", ipv4()), " db=ehr_prod password=", ("PASSWORD", password()),
                "\n")
        elif k == 4:
            d.x("env AWS_ACCESS_KEY_ID=", ("AWS_ACCESS_KEY", aws_access()), " aws_secret_access_key=",
                ("AWS_SECRET_KEY", aws_secret()), "\n")
        elif k == 5:
            d.x("sent notification to ", ("EMAIL", email(f, l)), " via ", ("URL", url()), "\n")
        elif k == 6:
            d.x("GET ", ("URL", url()), " 200 ", str(R.randint(3, 900)), "ms ", neg("version"), "\n")
        elif k == 7:
            d.x("deploy ", neg("build"), " ", neg("version"), " finished; ", neg("ticket"), "\n")
        elif k == 8:
            d.x("userid=", ("USERNAME", username(f, l)), " pwd: ", ("PASSWORD", password()),
                R.choice([" (plaintext!)", " rejected"]), "\n")
        elif k == 9:
            d.x("creds: {\"SecretAccessKey\": \"", ("AWS_SECRET_KEY", aws_secret()), "\", \"AccessKeyId\": \"",
                ("AWS_ACCESS_KEY", aws_access()), "\"}\n")
        elif k == 10:
            d.x("device ", ("MAC_ADDRESS", mac()), " at ", ("IP_ADDRESS", ipv6()), " unreachable; ", neg("bad_ip"),
                "\n")
        else:
            d.x("job ", neg("order"), " processed ", neg("nine_digit"), " in ", neg("time"), "\n")
    return d


def gen_chat():
    d = Doc("chat")
    a, b = full_name(), full_name()
    ts = lambda: "[" + "%02d:%02d" % (R.randint(0, 23), R.randint(0, 59)) + "] "
    lines = R.sample(range(12), R.randint(3, 5))
    spk = [a[0], b[0]]
    for i, k in enumerate(lines):
        NEG_KINDS["time"] = NEG_KINDS.get("time", 0) + 1
        STATS["hard_negatives"] += 1
        d.x(ts(), spk[i % 2], ": ")
        if k == 0:
            d.x("hey its ", ("NAME", a[2]), ", new number is ", ("PHONE", phone()), " text me\n")
        elif k == 1:
            d.x("the car is the silver one, plate ", ("LICENSE_PLATE", plate()), ", parked on ", neg("street_alone"),
                "\n")
        elif k == 2:
            d.x("dealer needs the VIN ", ("VEHICLE_IDENTIFICATION_NUMBER", vin()), " before ", neg("time"), "\n")
        elif k == 3:
            d.x("my ", R.choice(["driver's license ", "DL# ", "DL ", "driver license no. "]), "is ",
                ("DRIVER_ID", driver_id()), " lol\n") if R.random() < 0.5 else \
                d.x("DL# ", ("DRIVER_ID", driver_id()), " renewed ", neg("year"), "\n")
        elif k == 4:
            d.x("passport ", ("US_PASSPORT_NUMBER", passport()), " expires ", ("DATE", recent_date()), " ugh\n")
        elif k == 5:
            d.x("grandma turns ", ("AGE", str(R.randint(90, 101))), " on ", ("DATE", recent_date("short_month")),
                ", party at ", neg("city_state"), "\n")
        elif k == 6:
            d.x("ask ", ("NAME", b[2]), " or email ", ("EMAIL", email(b[0], b[1])), "\n")
        elif k == 7:
            d.x("wifi password is ", ("PASSWORD", password()), " and door PIN ", ("PIN", digits(R.randint(4, 6))),
                "\n")
        elif k == 8:
            d.x("paid ", neg("amount"), " for ", neg("order"), ", tracking later\n")
        elif k == 9:
            d.x("new ", R.choice(["license plate ", "tag "]), ("LICENSE_PLATE", plate()), " and VIN ends ",
                neg("nine_digit"), "\n")
        elif k == 10:
            d.x("May be late, ", neg("hospital"), " traffic. call ", ("PHONE", phone()), "\n")
        else:
            d.x("Will do. send to ", ("ADDRESS", address()), ", ", R.choice(CITIES)[0], " ZIP ", ("ZIP_CODE", zipc()),
                "\n")
    return d


# Table column definitions: header -> function(doc, row_person) appending one cell.
COLS = {
    "Name": lambda d, p: d.x(("NAME", p[2])),
    "DOB": lambda d, p: d.x(("DATE", date(R.choice(["us", "iso"])))),
    "Age": lambda d, p: d.x("age ", ("AGE", str(R.randint(18, 104)))),
    "MRN": lambda d, p: d.x(R.choice(["MRN ", "MR# "]), ("MEDICAL_RECORD_NUMBER", mrn())),
    "Phone": lambda d, p: d.x(("PHONE", phone())),
    "Fax": lambda d, p: d.x("fax ", ("FAX", phone())),
    "Email": lambda d, p: d.x(("EMAIL", email(p[0], p[1]))),
    "Address": lambda d, p: d.x(("ADDRESS", address())),
    "City/State/ZIP": lambda d, p: d.x("%s, %s " % R.choice(CITIES), ("ZIP_CODE", zipc())),
    "SSN": lambda d, p: d.x(("US_SOCIAL_SECURITY_NUMBER", ssn("-"))) if R.random() < 0.6 else
    d.x("SSN ", ("US_SOCIAL_SECURITY_NUMBER", ssn_compact())),
    "ITIN": lambda d, p: d.x(("US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER", itin())),
    "Member ID": lambda d, p: d.x("member ID ", ("HEALTH_PLAN_BENEFICIARY_NUMBER", member_id())),
    "Provider": lambda d, p: (lambda n: d.x("Dr. ", ("NAME", n[1]), " NPI ",
                                            ("CERTIFICATE_LICENSE_NUMBER", npi())))(full_name()),
    "DEA": lambda d, p: d.x("DEA ", ("CERTIFICATE_LICENSE_NUMBER", dea(p[1]))),
    "Device": lambda d, p: d.x(R.choice(["S/N ", "SN: ", "serial "]), ("DEVICE_IDENTIFIER", serial())) if R.random() < 0.5 else
    d.x("IMEI ", ("DEVICE_IDENTIFIER", imei())),
    "Card": lambda d, p: d.x(("CREDIT_DEBIT_CARD_NUMBER", card_number())),
    "Exp": lambda d, p: d.x("exp ", ("CREDIT_DEBIT_CARD_EXPIRY", expiry())),
    "CVV": lambda d, p: d.x("CVV ", ("CREDIT_DEBIT_CARD_CVV", cvv())),
    "PIN": lambda d, p: d.x("PIN ", ("PIN", digits(4))),
    "IBAN": lambda d, p: d.x(("INTERNATIONAL_BANK_ACCOUNT_NUMBER", iban())),
    "BIC": lambda d, p: d.x("BIC ", ("SWIFT_CODE", swift())),
    "Routing": lambda d, p: d.x("ABA ", ("US_BANK_ROUTING_NUMBER", aba())),
    "Account": lambda d, p: d.x("acct ", ("US_BANK_ACCOUNT_NUMBER", bank_account())),
    "NINO": lambda d, p: d.x(("UK_NATIONAL_INSURANCE_NUMBER", nino())),
    "NHS No": lambda d, p: d.x("NHS ", ("UK_NATIONAL_HEALTH_SERVICE_NUMBER", nhs())),
    "UTR": lambda d, p: d.x("UTR ", ("UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER", utr())),
    "SIN": lambda d, p: d.x("SIN ", ("CA_SOCIAL_INSURANCE_NUMBER", sin())),
    "OHIP": lambda d, p: d.x("OHIP ", ("CA_HEALTH_NUMBER", ohip())),
    "Plate": lambda d, p: d.x("plate ", ("LICENSE_PLATE", plate())),
    "VIN": lambda d, p: d.x(("VEHICLE_IDENTIFICATION_NUMBER", vin())),
    "Driver ID": lambda d, p: d.x("DL ", ("DRIVER_ID", driver_id())),
    "Passport": lambda d, p: d.x("passport ", ("US_PASSPORT_NUMBER", passport())),
    "Username": lambda d, p: d.x("user: ", ("USERNAME", username(p[0], p[1]))),
    "Password": lambda d, p: d.x("pwd=", ("PASSWORD", password())),
    "IP": lambda d, p: d.x(("IP_ADDRESS", ipv4() if R.random() < 0.6 else ipv6())),
    "MAC": lambda d, p: d.x(("MAC_ADDRESS", mac())),
    "URL": lambda d, p: d.x(("URL", url())),
    "Access Key": lambda d, p: d.x(("AWS_ACCESS_KEY", aws_access())),
    "Secret": lambda d, p: d.x("secret key ", ("AWS_SECRET_KEY", aws_secret())),
    "Visit": lambda d, p: d.x(("DATE", recent_date())),
    # negative-only columns
    "Order": lambda d, p: d.x(neg("order")),
    "Invoice": lambda d, p: d.x(neg("invoice")),
    "Amount": lambda d, p: d.x(neg("amount")),
    "Room": lambda d, p: d.x(neg("room")),
    "Dx": lambda d, p: d.x(neg("icd")),
    "Med": lambda d, p: d.x(neg("dose")),
    "Build": lambda d, p: d.x(neg("version")),
    "Ref": lambda d, p: d.x(neg(R.choice(["bad_card", "bad_ssn", "nine_digit", "tracking", "bad_iban"]))),
    "Site": lambda d, p: d.x(neg(R.choice(["hospital", "city_state"]))),
}
TABLE_SETS = [
    ["Name", "DOB", "MRN", "Phone", "Room", "Dx"],
    ["Name", "Age", "Member ID", "Address", "City/State/ZIP", "Med"],
    ["Name", "Email", "Phone", "Fax", "Site"],
    ["Name", "SSN", "ITIN", "Passport", "Ref"],
    ["Provider", "DEA", "Device", "Visit", "Room"],
    ["Name", "Card", "Exp", "CVV", "PIN", "Amount", "Order"],
    ["Name", "IBAN", "BIC", "Routing", "Account", "Invoice"],
    ["Name", "NINO", "NHS No", "UTR", "Ref"],
    ["Name", "SIN", "OHIP", "DOB", "Site"],
    ["Name", "Plate", "VIN", "Driver ID", "Phone"],
    ["Username", "Password", "IP", "MAC", "Build"],
    ["URL", "Access Key", "Secret", "Visit", "Build"],
]


def gen_table(idx):
    d = Doc("table")
    cols = TABLE_SETS[idx % len(TABLE_SETS)]
    pipe = R.random() < 0.6
    sep = " | " if pipe else ","  # CSV rows quote every cell (values may hold commas)
    d.x(R.choice(["Export", "Roster", "Report", "Extract", "Worklist"]), " for ", Neg("year", str(R.randint(2015, 2025))), "\n")
    d.x(sep.join(cols), "\n")
    if pipe:
        d.x("|".join("---" for _ in cols), "\n")
    for _ in range(R.randint(2, 3)):
        p = full_name()
        for j, c in enumerate(cols):
            if j:
                d.x(sep)
            if not pipe:
                d.x('"')
            COLS[c](d, p)
            if not pipe:
                d.x('"')
        d.x("\n")
    return d


# ---------------------------------------------------------------- main
def main():
    if "--seed" in sys.argv:
        R.seed(int(sys.argv[sys.argv.index("--seed") + 1]))
    plan = ["clinical_note"] * 270 + ["email"] * 300 + ["log"] * 204 + ["chat"] * 210 + ["table"] * 216
    R.shuffle(plan)
    prefix = {"clinical_note": "note", "email": "email", "log": "log", "chat": "chat", "table": "table"}
    counters = {k: 0 for k in prefix}
    out = sys.stdout
    counts = {t: 0 for t in TYPES}
    total = 0
    for kind in plan:
        counters[kind] += 1
        i = counters[kind]
        d = {"clinical_note": gen_note, "email": gen_email, "log": gen_log, "chat": gen_chat,
             "table": lambda: gen_table(i - 1)}[kind]()
        rec = d.finish("%s-%04d" % (prefix[kind], i))
        for e in rec["entities"]:
            counts[e["type"]] += 1
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        total += len(line)
        out.write(line)
    low = {t: c for t, c in counts.items() if c < 40}
    assert not low, low
    print("docs=%d bytes=%d hard_negatives=%d names=%d rare_names=%d" % (
        len(plan), total, STATS["hard_negatives"], STATS["names"], STATS["rare_names"]), file=sys.stderr)
    print("hard negatives by kind: " + json.dumps(NEG_KINDS, sort_keys=True), file=sys.stderr)


if __name__ == "__main__":
    main()
