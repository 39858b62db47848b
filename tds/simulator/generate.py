"""Deterministic, internally consistent Zoho data for one organization (and the CRM account).

Everything is drawn from ``random.Random`` seeded by (seed, organization), so the same seed
always gives the same records. Records are built in their *detail* form; list rows are
derived from them (:func:`tds.simulator.resources.list_row`). Times are kept as epoch
seconds next to each record and formatted with the organization's UTC offset.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

Q2 = Decimal("0.01")
Q6 = Decimal("0.000001")
ZERO2 = Decimal("0.00")
ZERO6 = Decimal("0.000000")

#: Generated history ends here (local time of the organization); run-time changes use the clock.
REFERENCE_DATE = (2025, 6, 30, 12, 0, 0)
HISTORY_DAYS = 730


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Q2, ROUND_HALF_UP)


def stock(value) -> Decimal:
    return Decimal(str(value)).quantize(Q6, ROUND_HALF_UP)


def parse_offset(offset: str) -> timezone:
    text = offset.replace(":", "").strip()
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))


def format_time(ts: int, tz: timezone, colon: bool = False) -> str:
    text = datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%dT%H:%M:%S%z")
    return text[:-2] + ":" + text[-2:] if colon else text


def format_date(ts: int, tz: timezone) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d")


class UnknownReference(LookupError):
    """A record names an item or warehouse the organization does not have."""


class InvalidReference(ValueError):
    """A record names something that cannot be used there (an item that does not track stock)."""


class IdSource:
    """Zoho-style 19-digit numeric string ids: an account prefix and a rising counter."""

    def __init__(self, prefix: int, rng: random.Random):
        self.prefix = str(prefix)
        self.counter = 10000 + rng.randint(0, 5000)

    def next(self) -> str:
        self.counter += 1 + (self.counter % 7 == 0) * 2
        return f"{self.prefix}{self.counter:012d}"


def _stable_int(*parts) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:12], 16)


# --------------------------------------------------------------------------- vocabulary

EN_PARTS = ["Oil Filter", "Air Filter", "Brake Pad Set", "Spark Plug", "Water Pump", "Fuel Pump", "Timing Belt",
            "Radiator Hose", "Alternator", "Starter Motor", "Clutch Kit", "Shock Absorber", "Wiper Blade",
            "Headlight Bulb", "Battery 70Ah", "Engine Oil 5W-30", "Coolant 4L", "Bearing", "Gasket Set",
            "Drill Bit Set", "Steel Bolt M8", "PVC Pipe 2in", "Cable Tie Pack", "LED Panel 60x60", "Paint 4L"]
AR_PARTS = ["فلتر زيت", "فلتر هواء", "طقم فحمات فرامل", "بوجي", "مضخة مياه", "طرمبة بنزين", "سير توقيت",
            "خرطوم رديتر", "دينامو", "سلف", "طقم كلتش", "مساعدات", "مساحات", "لمبة أمامية", "بطارية",
            "زيت محرك", "ماء رديتر", "رمان بلي", "طقم جوانات"]
BRANDS = ["GUD", "Bosch", "Denso", "NGK", "Mann", "Valeo", "Toyota", "Hyundai", "SKF", "Mobil"]
UNITS = ["pcs", "box", "set", "kg", "ltr"]
CATEGORIES = ["Filters", "Brakes", "Electrical", "Engine", "Cooling", "Suspension", "Lubricants", "Tools"]
SERVICES = ["Installation", "Delivery", "Maintenance Visit", "Consulting Hour", "خدمة توصيل", "خدمة تركيب"]
FREE_LINES = ["Freight charges", "Packing", "Special order handling", "رسوم شحن", "تغليف"]

AR_COMPANIES = ["شركة النور للتجارة", "مؤسسة الفجر", "شركة الأمل للمقاولات", "مؤسسة البيان التجارية",
                "شركة الرياض للمعدات", "مجموعة الخليج", "شركة السلام لقطع الغيار", "مؤسسة الهدى",
                "شركة الواحة", "مؤسسة المستقبل", "شركة الجزيرة للتوريدات", "مؤسسة النخبة"]
EN_COMPANIES = ["Al Noor Trading", "Gulf Auto Parts", "Desert Star Co", "Red Sea Logistics", "Najd Motors",
                "Falcon Supplies", "Oasis Engineering", "Bowman & Co", "Summit Industrial", "Crescent Traders",
                "Palm Contracting", "Eastern Province Garage"]
SUFFIXES = ["LLC", "Est.", "Ltd", "Co.", "Group", ""]
FIRST = ["Mohammed", "Ahmed", "Abdullah", "Fatimah", "Sara", "Omar", "Khalid", "Noura", "Youssef", "Layla",
         "John", "Maria", "Ali", "Hassan", "Reem", "Faisal"]
LAST = ["Al-Harbi", "Al-Otaibi", "Al-Qahtani", "Al-Ghamdi", "Al-Zahrani", "Smith", "Haddad", "Al-Shehri",
        "Al-Dossari", "Khan", "Nasser", "Saleh"]
AR_FIRST = ["محمد", "أحمد", "عبدالله", "فاطمة", "سارة", "عمر", "خالد", "نورة"]
AR_LAST = ["الحربي", "العتيبي", "القحطاني", "الغامدي", "الزهراني", "الشهري"]
CITIES = [("Riyadh", "Riyadh Province", "11564"), ("Jeddah", "Makkah Province", "21577"),
          ("Dammam", "Eastern Province", "32241"), ("Khobar", "Eastern Province", "34428"),
          ("Medina", "Madinah Province", "42311"), ("Mecca", "Makkah Province", "24231")]
STREETS = ["King Fahd Rd", "Olaya St", "Prince Sultan St", "Tahlia St", "طريق الملك عبدالعزيز", "شارع التحلية"]
PAYMENT_TERMS = [(0, "Due on Receipt"), (15, "Net 15"), (30, "Net 30"), (45, "Net 45"), (60, "Net 60")]
PAYMENT_MODES = ["cash", "banktransfer", "check", "creditcard", "bankremittance"]
ROLES = [("admin", "Admin"), ("staff", "Staff"), ("staff", "Sales Staff"), ("staff", "Warehouse Staff"),
         ("timesheetstaff", "Timesheet Staff")]
WAREHOUSES = [("Main Warehouse - Riyadh", "Riyadh"), ("Jeddah Branch", "Jeddah"), ("Dammam Store", "Dammam"),
              ("Khobar Depot", "Khobar"), ("Medina Outlet", "Medina")]
ADJUSTMENT_REASONS = ["Stocktaking results", "Damaged goods", "Stolen goods", "Stock written off",
                      "Returned to stock", "Data entry error"]
#: Reasons that fit adjustments that only add stock, and those that only remove it.
ADJUSTMENT_REASONS_UP = ["Stocktaking results", "Returned to stock", "Data entry error"]
ADJUSTMENT_REASONS_DOWN = ["Stocktaking results", "Damaged goods", "Stolen goods", "Stock written off",
                           "Data entry error"]
ADJUSTMENT_NOTES = ["", "", "Cycle count", "Count correction", "Monthly stock check", "جرد دوري"]
INDUSTRIES = ["Automotive", "Construction", "Retail", "Manufacturing", "Logistics", "Government"]


class OrgData:
    """The generated tables of one organization plus what later creations need (ids, lookups)."""

    def __init__(self, org_id: str, index: int, seed: int, counts: dict, tz: timezone):
        self.org_id = org_id
        self.index = index
        self.shape = "warehouses" if index % 2 == 0 else "locations"
        self.tz = tz
        self.rng = random.Random(f"tds-simulator:{seed}:{org_id}")
        self.ids = IdSource(3000000 + _stable_int(seed, org_id) % 6000000, self.rng)
        self.counts = counts
        self.ref_ts = int(datetime(*REFERENCE_DATE, tzinfo=tz).timestamp())
        self.ref_date = datetime(*REFERENCE_DATE, tzinfo=tz).date()
        self.email_domain = f"org{org_id[-4:]}.example.com"
        # tables: resource -> (rows dict id->record, ctime dict, mtime dict)
        self.rows: dict[str, dict[str, dict]] = {}
        self.ctime: dict[str, dict[str, int]] = {}
        self.mtime: dict[str, dict[str, int]] = {}
        self.numbers: dict[str, int] = {}
        self.adjustment_reasons: list[tuple[str, str]] = []
        self._setup_lookups()

    # ------------------------------------------------------------------ helpers
    def fmt(self, ts: int) -> str:
        return format_time(ts, self.tz)

    def day(self, ts: int) -> str:
        return format_date(ts, self.tz)

    def _times(self, lo_days: int = HISTORY_DAYS) -> tuple[int, int]:
        created = self.ref_ts - self.rng.randint(3600, lo_days * 86400)
        modified = created + int((self.ref_ts - created) * self.rng.random() ** 2)
        return created, modified

    def _put(self, resource: str, id_: str, record: dict, ctime: int, mtime: int) -> None:
        self.rows.setdefault(resource, {})[id_] = record
        self.ctime.setdefault(resource, {})[id_] = ctime
        self.mtime.setdefault(resource, {})[id_] = mtime
        record["created_time"] = self.fmt(ctime)
        record["last_modified_time"] = self.fmt(mtime)

    def next_number(self, kind: str) -> int:
        self.numbers[kind] = self.numbers.get(kind, 0) + 1
        return self.numbers[kind]

    def _setup_lookups(self) -> None:
        ids = self.ids
        self.currencies = {"SAR": ids.next(), "USD": ids.next(), "AED": ids.next()}
        self.taxes = [("", "", 0), (ids.next(), "VAT", 15), (ids.next(), "VAT 5%", 5)]
        self.tax_by_id = {t[0]: t for t in self.taxes if t[0]}
        self.categories = [(ids.next(), c) for c in CATEGORIES]
        self.accounts = {"sales": (ids.next(), "Sales"), "cogs": (ids.next(), "Cost of Goods Sold"),
                         "inventory": (ids.next(), "Inventory Asset"), "petty": (ids.next(), "Petty Cash"),
                         "undeposited": (ids.next(), "Undeposited Funds"), "bank": (ids.next(), "Bank Account")}
        self.role_ids = {label: ids.next() for _, label in ROLES}

    # ------------------------------------------------------------------ generation
    def generate(self) -> OrgData:
        c = self.counts
        self.warehouse_list = [self.make_warehouse(i) for i in range(c["warehouses"])]
        for _ in range(c["items"]):
            self.make_item()
        self.sellable = [r for r in self.rows.get("items", {}).values() if r["status"] == "active"]
        for i in range(c["users"]):
            self.make_user(i)
        for _ in range(c["customers"]):
            self.make_contact("customer")
        for _ in range(c["vendors"]):
            self.make_contact("vendor")
        for i in range(c["pricebooks"]):
            self.make_pricebook(i)
        self._generate_documents()
        self._generate_adjustments()
        return self

    def make_warehouse(self, i: int) -> dict:
        name, city = WAREHOUSES[i % len(WAREHOUSES)] if i < len(WAREHOUSES) else (f"Warehouse {i + 1}", "Riyadh")
        city_row = next((row for row in CITIES if row[0] == city), CITIES[0])
        wid = self.ids.next()
        record = {
            "warehouse_id": wid, "warehouse_name": name, "status": "active", "is_primary": i == 0,
            "is_fba_warehouse": False, "address": f"{self.rng.randint(1, 999)} {self.rng.choice(STREETS)}",
            "city": city, "state": city_row[1], "country": "Saudi Arabia", "zip": city_row[2],
            "phone": self._phone(), "email": f"warehouse{i + 1}@{self.email_domain}",
        }
        created, modified = self._times()
        self._put("warehouses", wid, record, created, modified)
        return record

    def _phone(self) -> str:
        return f"+9661{self.rng.randint(10000000, 99999999)}"

    def _mobile(self) -> str:
        return f"+9665{self.rng.randint(10000000, 99999999)}"

    def make_item(self, fields: dict | None = None, ts: int | None = None) -> dict:
        rng = self.rng
        roll = rng.random()
        if roll < 0.72:
            item_type, product_type = "inventory", "goods"
        elif roll < 0.85:
            item_type, product_type = "sales_and_purchases", "goods"
        elif roll < 0.95:
            item_type, product_type = "sales_and_purchases", "service"
        else:
            item_type, product_type = "sales", "service"
        n = self.next_number("item")
        if product_type == "service":
            base = rng.choice(SERVICES)
        else:
            base = rng.choice(AR_PARTS) if rng.random() < 0.3 else rng.choice(EN_PARTS)
        brand = rng.choice(BRANDS)
        code = f"{rng.choice('ABCDEFGHKLMNPRSTZ')}{n:04d}"
        name = f"{base} {brand} {code}" if product_type == "goods" else f"{base} {code}"
        rate = Decimal(rng.randint(500, 250000)).scaleb(-2)
        purchase_rate = money(rate * Decimal(rng.randint(55, 85)) / 100)
        tax_id, tax_name, tax_pct = rng.choice(self.taxes[1:]) if rng.random() < 0.85 else self.taxes[0]
        cat_id, cat_name = rng.choice(self.categories)
        item_id = self.ids.next()
        has_image = rng.random() < 0.75
        record = {
            "item_id": item_id, "name": name, "item_name": name, "sku": code, "description": f"{base} ({brand})",
            "unit": rng.choice(UNITS), "status": "active" if rng.random() < 0.9 else "inactive", "source": "user",
            "rate": rate, "purchase_rate": purchase_rate, "tax_id": tax_id, "tax_name": tax_name,
            "tax_percentage": tax_pct, "is_taxable": bool(tax_id), "item_type": item_type,
            "product_type": product_type, "category_id": cat_id, "category_name": cat_name,
            "account_id": self.accounts["sales"][0], "account_name": self.accounts["sales"][1],
            "purchase_account_id": self.accounts["cogs"][0], "purchase_account_name": self.accounts["cogs"][1],
            "inventory_account_id": self.accounts["inventory"][0] if item_type == "inventory" else "",
            "brand": brand, "manufacturer": brand, "hsn_or_sac": "", "upc": "", "ean": "", "isbn": "",
            "part_number": code, "is_returnable": product_type == "goods", "has_attachment": has_image,
            "image_document_id": self.ids.next() if has_image else "",
            "image_name": f"{code}-profile.png" if has_image else "",
            "image_type": "png" if has_image else "",
            "weight_unit": "kg", "dimension_unit": "cm", "custom_fields": [],
            "unit_id": self.ids.next(), "pricebook_rate": rate,
            "item_tax_preferences": [{"tax_id": tax_id, "tax_name": tax_name, "tax_percentage": tax_pct,
                                      "tax_specification": "intra"}] if tax_id else [],
        }
        if item_type == "inventory":
            record["reorder_level"] = stock(rng.choice([0, 1, 5, 10, 20]))
            levels = []
            for w in self.warehouse_list:
                on_hand = rng.randint(0, 120) if rng.random() < 0.8 else 0
                committed = rng.randint(0, min(on_hand, 8)) if on_hand else 0
                levels.append((w, on_hand, committed))
            record["_levels"] = levels
        if fields:
            record.update(fields)
        self.set_item_stock(record)
        created, modified = (ts, ts) if ts is not None else self._times()
        self._put("items", item_id, record, created, modified)
        return record

    def set_item_stock(self, record: dict) -> None:
        """Write the per-warehouse stock in this organization's shape and the item totals that sum it."""
        levels = record.pop("_levels", None)
        if levels is None:
            return
        record[self.shape] = [level_row(self.shape, w, on_hand, committed) for w, on_hand, committed in levels]
        recompute_item(record)

    def make_user(self, i: int, fields: dict | None = None, ts: int | None = None) -> dict:
        rng = self.rng
        role, label = ROLES[0] if i == 0 else rng.choice(ROLES[1:])
        first, last = rng.choice(FIRST), rng.choice(LAST)
        uid = self.ids.next()
        record = {
            "user_id": uid, "role_id": self.role_ids[label], "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower().replace('-', '')}{i}@{self.email_domain}",
            "user_role": role, "role_name": label, "status": "active" if i == 0 or rng.random() < 0.85 else "inactive",
            "is_current_user": i == 0, "user_type": "zoho", "is_customer_segmented": False,
            "is_vendor_segmented": False, "photo_url": "",
        }
        if fields:
            record.update(fields)
        created, modified = (ts, ts) if ts is not None else self._times()
        self._put("users", uid, record, created, modified)
        return record

    def _address(self) -> dict:
        rng = self.rng
        city, state, zip_code = rng.choice(CITIES)
        return {"attention": "", "address": f"{rng.randint(1, 9999)} {rng.choice(STREETS)}", "street2": "",
                "city": city, "state": state, "zip": zip_code, "country": "Saudi Arabia", "phone": self._phone(),
                "fax": ""}

    def make_contact(self, contact_type: str, fields: dict | None = None, ts: int | None = None) -> dict:
        rng = self.rng
        arabic = rng.random() < 0.4
        business = contact_type == "vendor" or rng.random() < 0.7
        if arabic:
            first, last = rng.choice(AR_FIRST), rng.choice(AR_LAST)
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
        n = self.next_number("contact")
        if business:
            company = rng.choice(AR_COMPANIES) if arabic else f"{rng.choice(EN_COMPANIES)} {rng.choice(SUFFIXES)}".strip()
            company = f"{company} {n}"
            contact_name = company
        else:
            company = ""
            contact_name = f"{first} {last}"
        terms, terms_label = rng.choice(PAYMENT_TERMS)
        currency = "SAR" if rng.random() < 0.85 else rng.choice(["USD", "AED"])
        cid = self.ids.next()
        ascii_first = first if not arabic else "contact"
        email = f"{ascii_first.lower()}{n}@{'vendor' if contact_type == 'vendor' else 'client'}{n % 97}.example.com"
        persons = []
        for p in range(rng.randint(1, 3)):
            pf, pl = (first, last) if p == 0 else (rng.choice(FIRST), rng.choice(LAST))
            persons.append({
                "contact_person_id": self.ids.next(), "salutation": "", "first_name": pf, "last_name": pl,
                "email": email if p == 0 else f"{pf.lower()}.{n}.{p}@example.com", "phone": self._phone(),
                "mobile": self._mobile(), "designation": "", "department": "", "is_primary_contact": p == 0,
            })
        billing = self._address()
        custom_fields = []
        if contact_type == "vendor":
            value = f"{rng.choice(AR_COMPANIES)} {n}" if rng.random() < 0.85 else ""
            custom_fields.append({"customfield_id": self.ids.next(), "label": "Vendor Name (Arabic)",
                                  "api_name": "cf_vendor_name_ar", "data_type": "string", "index": 1,
                                  "value": value})
        else:
            custom_fields.append({"customfield_id": self.ids.next(), "label": "Customer Tier",
                                  "api_name": "cf_customer_tier", "data_type": "dropdown", "index": 1,
                                  "value": rng.choice(["Gold", "Silver", "Bronze"])})
        record = {
            "contact_id": cid, "contact_name": contact_name, "customer_name": contact_name,
            "vendor_name": contact_name, "company_name": company, "website": "", "language_code": "ar" if arabic else "en",
            "contact_type": contact_type, "customer_sub_type": "business" if business else "individual",
            "status": "active" if rng.random() < 0.92 else "inactive", "source": "user",
            "payment_terms": terms, "payment_terms_label": terms_label,
            "currency_id": self.currencies[currency], "currency_code": currency,
            "outstanding_receivable_amount": ZERO2, "outstanding_payable_amount": ZERO2,
            "unused_credits_receivable_amount": ZERO2, "unused_credits_payable_amount": ZERO2,
            "first_name": first, "last_name": last, "email": email, "phone": self._phone(), "mobile": self._mobile(),
            "pricebook_id": "", "pricebook_name": "", "is_linked_with_zohocrm": False,
            "billing_address": billing, "shipping_address": dict(billing),
            "contact_persons": persons, "custom_fields": custom_fields,
            custom_fields[0]["api_name"]: custom_fields[0]["value"],
            "notes": "",
        }
        if fields:
            record.update(fields)
        created, modified = (ts, ts) if ts is not None else self._times()
        self._put("contacts", cid, record, created, modified)
        return record

    def make_pricebook(self, i: int, fields: dict | None = None, ts: int | None = None) -> dict:
        rng = self.rng
        kind = ["per_item", "fixed_percentage", "fixed_percentage"][i % 3]
        pid = self.ids.next()
        if kind == "per_item":
            name = "Wholesale" if i == 0 else f"Wholesale {i}"
            pct, increase = ZERO2, False
        elif i % 3 == 1:
            name, pct, increase = f"Retail +{10 + i}%", money(10 + i), True
        else:
            name, pct, increase = f"VIP -{5 + i}%", money(5 + i), False
        items = []
        if kind == "per_item":
            pool = self.sellable or list(self.rows.get("items", {}).values())
            for item in rng.sample(pool, k=max(1, len(pool) * 3 // 10)) if pool else []:
                discount = rng.choice(["", "", "5%", "10%"])
                items.append({"pricebook_item_id": self.ids.next(), "item_id": item["item_id"], "name": item["name"],
                              "sku": item["sku"], "status": "active",
                              "pricebook_rate": money(item["rate"] * Decimal(rng.randint(80, 95)) / 100),
                              "pricebook_discount": discount, "price_brackets": []})
        record = {
            "pricebook_id": pid, "name": name, "description": f"{name} price list",
            "currency_id": self.currencies["SAR"], "currency_code": "SAR", "decimal_place": 2,
            "is_default": False, "is_increase": increase, "percentage": pct, "pricebook_type": kind,
            "pricing_scheme": "unit", "rounding_type": "no_rounding", "sales_or_purchase_type": "sales",
            "status": "active", "pricebook_items": items,
        }
        if fields:
            record.update(fields)
        created, modified = (ts, ts) if ts is not None else self._times()
        self._put("pricebooks", pid, record, created, modified)
        return record

    # ------------------------------------------------------------------ documents
    def make_lines(self, count: int | None = None, allow_free: bool = True) -> list[dict]:
        rng = self.rng
        lines = []
        for _ in range(count or rng.randint(1, 5)):
            if self.sellable and (not allow_free or rng.random() < 0.85):
                item = rng.choice(self.sellable)
                line = {"item_id": item["item_id"], "name": item["name"], "description": item["description"],
                        "sku": item["sku"], "unit": item["unit"], "rate": item["rate"],
                        "tax_id": item["tax_id"], "tax_name": item["tax_name"], "tax_percentage": item["tax_percentage"]}
            else:
                tax_id, tax_name, pct = self.taxes[1]
                line = {"item_id": "", "name": rng.choice(FREE_LINES), "description": "", "sku": "", "unit": "",
                        "rate": Decimal(rng.randint(1000, 50000)).scaleb(-2),
                        "tax_id": tax_id, "tax_name": tax_name, "tax_percentage": pct}
            line["quantity"] = money(rng.choice([1, 1, 2, 3, 5, 10, 12, 20]))
            line["discount"] = money(line["rate"] * line["quantity"] * Decimal("0.05")) if rng.random() < 0.1 else ZERO2
            lines.append(line)
        return lines

    def _document(self, kind: str, party: dict, created: int, lines: list[dict], discount_share: float = 0.15) -> dict:
        doc = {
            "date": self.day(created), "currency_id": party["currency_id"], "currency_code": party["currency_code"],
            "exchange_rate": Decimal("1.00"), "line_items": lines, "discount": ZERO2, "discount_type": "entity_level",
            "is_discount_before_tax": False, "reference_number": "", "notes": "", "terms": "",
            "custom_fields": [], "location_id": self.warehouse_list[0]["warehouse_id"] if self.warehouse_list else "",
            "has_attachment": False,
        }
        normalize_lines(doc, self)
        if self.rng.random() < discount_share:
            doc["discount"] = money(doc["sub_total"] * Decimal("0.05"))
        recompute_totals(doc)
        return doc

    def _customer_fields(self, customer: dict) -> dict:
        return {"customer_id": customer["contact_id"], "customer_name": customer["contact_name"],
                "billing_address": dict(customer["billing_address"]),
                "shipping_address": dict(customer["shipping_address"])}

    def _sorted_times(self, n: int) -> list[tuple[int, int]]:
        times = sorted(self._times() for _ in range(n))
        return times

    def _generate_documents(self) -> None:
        c = self.counts
        rng = self.rng
        contacts = list(self.rows.get("contacts", {}).values())
        customers = [r for r in contacts if r["contact_type"] == "customer"]
        vendors = [r for r in contacts if r["contact_type"] == "vendor"]
        self.customers, self.vendors = customers, vendors
        users = list(self.rows.get("users", {}).values())
        ref = self.ref_ts

        invoices = []
        for created, modified in self._sorted_times(c["invoices"] if customers else 0):
            inv = self.make_invoice(rng.choice(customers), created, modified, users)
            invoices.append(inv)

        # credit notes, applied to the same customer's open invoices
        by_customer: dict[str, list[dict]] = {}
        for inv in invoices:
            if inv["status"] not in ("draft", "void"):
                by_customer.setdefault(inv["customer_id"], []).append(inv)
        for created, modified in self._sorted_times(c["creditnotes"] if customers else 0):
            customer = rng.choice(customers)
            self.make_creditnote(customer, created, modified, by_customer.get(customer["contact_id"], []))

        # customer payments against open invoices
        open_invoices = [inv for inv in invoices if inv["status"] not in ("draft", "void") and inv["balance"] > 0]
        payments = []
        for _ in range(c["customerpayments"] if customers else 0):
            payments.append(self._draw_payment(open_invoices, customers, by_customer))
        payments.sort(key=lambda p: p["_ctime"])
        for pay in payments:
            ctime = pay.pop("_ctime")
            mtime = min(ref, ctime + int((ref - ctime) * rng.random() ** 4))
            pay["payment_number"] = str(self.next_number("payment"))
            self._put("customerpayments", pay["payment_id"], pay, ctime, mtime)
            for app in pay["invoices"]:
                inv = self.rows["invoices"][app["invoice_id"]]
                inv["last_payment_date"] = max(inv["last_payment_date"] or "", pay["date"])
                self._touch("invoices", inv["invoice_id"], ctime)
        for inv in invoices:
            settle_invoice(inv, self.ref_date)

        for created, modified in self._sorted_times(c["bills"] if vendors else 0):
            self.make_bill(rng.choice(vendors), created, modified)
        for created, modified in self._sorted_times(c["salesorders"] if customers else 0):
            self.make_salesorder(rng.choice(customers), created, modified, users)

        # outstanding figures on contacts
        for inv in invoices:
            if inv["status"] in ("sent", "overdue", "partially_paid"):
                cust = self.rows["contacts"][inv["customer_id"]]
                cust["outstanding_receivable_amount"] += inv["balance"]
        for cn in self.rows.get("creditnotes", {}).values():
            if cn["status"] == "open":
                self.rows["contacts"][cn["customer_id"]]["unused_credits_receivable_amount"] += cn["balance"]
        for bill in self.rows.get("bills", {}).values():
            if bill["status"] in ("open", "overdue", "partially_paid"):
                self.rows["contacts"][bill["vendor_id"]]["outstanding_payable_amount"] += bill["balance"]

    def _touch(self, resource: str, id_: str, ts: int) -> None:
        """A later event (payment, credit) modified this record at ``ts`` during history."""
        if ts > self.mtime[resource][id_]:
            self.mtime[resource][id_] = ts
            self.rows[resource][id_]["last_modified_time"] = self.fmt(ts)

    def make_invoice(self, customer: dict, created: int, modified: int, users: list | None = None,
                     lines: list | None = None) -> dict:
        rng = self.rng
        doc = self._document("invoice", customer, created, lines if lines is not None else self.make_lines())
        iid = self.ids.next()
        roll = rng.random()
        status = "draft" if roll < 0.07 else "void" if roll < 0.11 else "sent"
        due = datetime.fromtimestamp(created, self.tz).date() + timedelta(days=customer["payment_terms"] or 0)
        doc.update({
            "invoice_id": iid, "invoice_number": f"INV-{self.next_number('invoice'):06d}", "status": status,
            **self._customer_fields(customer), "due_date": due.isoformat(), "due_days": "",
            "payment_terms": customer["payment_terms"], "payment_terms_label": customer["payment_terms_label"],
            "payment_made": ZERO2, "credits_applied": ZERO2, "write_off_amount": ZERO2, "balance": doc["total"],
            "is_emailed": status != "draft" and rng.random() < 0.6, "last_payment_date": "",
            "salesperson_name": rng.choice(users)["name"] if users and rng.random() < 0.5 else "",
            "reference_number": f"PO-{rng.randint(1000, 99999)}" if rng.random() < 0.3 else "",
        })
        if status == "void":
            doc["balance"] = ZERO2
        self._put("invoices", iid, doc, created, modified)
        return doc

    def make_creditnote(self, customer: dict, created: int, modified: int, candidates: list[dict],
                        lines: list | None = None) -> dict:
        rng = self.rng
        doc = self._document("creditnote", customer, created,
                             lines if lines is not None else self.make_lines(rng.randint(1, 2)), 0)
        cid = self.ids.next()
        doc.update({"creditnote_id": cid, "creditnote_number": f"CN-{self.next_number('creditnote'):05d}",
                    "status": "open", **self._customer_fields(customer), "invoices": [], "refunds": [],
                    "is_emailed": rng.random() < 0.5, "balance": doc["total"]})
        if rng.random() < 0.06:
            doc["status"], doc["balance"] = "void", ZERO2
        else:
            open_ones = [i for i in candidates if i["balance"] > 0 and i["date"] <= doc["date"]]
            remaining = doc["total"]
            if open_ones and rng.random() < 0.7:
                inv = rng.choice(open_ones)
                amount = min(remaining, inv["balance"])
                doc["invoices"].append({"invoice_id": inv["invoice_id"], "invoice_number": inv["invoice_number"],
                                        "amount_applied": amount, "date": doc["date"]})
                inv["credits_applied"] += amount
                inv["balance"] -= amount
                remaining -= amount
                self._touch("invoices", inv["invoice_id"], created)
            if remaining > 0 and rng.random() < 0.3:
                doc["refunds"].append({"creditnote_refund_id": self.ids.next(), "date": doc["date"],
                                       "refund_mode": rng.choice(PAYMENT_MODES), "amount": remaining,
                                       "description": "Refund"})
                remaining = ZERO2
            doc["balance"] = remaining
            doc["status"] = "closed" if remaining == 0 else "open"
        self._put("creditnotes", cid, doc, created, modified)
        return doc

    def _draw_payment(self, open_invoices: list[dict], customers: list[dict], by_customer: dict) -> dict:
        rng = self.rng
        pid = self.ids.next()
        applied = []
        if open_invoices:
            k = rng.randrange(len(open_invoices))
            inv = open_invoices[k]
            customer = self.rows["contacts"][inv["customer_id"]]
            targets = [inv]
            if rng.random() < 0.15:
                others = [o for o in by_customer.get(inv["customer_id"], []) if o is not inv and o["balance"] > 0]
                if others:
                    targets.append(rng.choice(others))
            start = max(self.ref_ts - HISTORY_DAYS * 86400,
                        int(datetime.fromisoformat(max(t["date"] for t in targets)).replace(tzinfo=self.tz).timestamp()))
            ctime = min(self.ref_ts - 60, start + rng.randint(3600, 45 * 86400))
            for j, target in enumerate(targets):
                amount = target["balance"]
                if j == 0 and rng.random() < 0.25:
                    amount = money(amount * Decimal(rng.randint(30, 90)) / 100)
                applied.append({"invoice_id": target["invoice_id"], "invoice_number": target["invoice_number"],
                                "date": target["date"], "invoice_amount": target["total"],
                                "amount_applied": amount, "balance_amount": target["balance"] - amount})
                target["payment_made"] += amount
                target["balance"] -= amount
            for target in targets:
                if target["balance"] <= 0 and target in open_invoices:
                    idx = open_invoices.index(target)
                    open_invoices[idx] = open_invoices[-1]
                    open_invoices.pop()
        else:
            customer = rng.choice(customers)
            ctime = self.ref_ts - rng.randint(3600, 60 * 86400)
        total_applied = sum((a["amount_applied"] for a in applied), ZERO2)
        unused = ZERO2
        if not applied:
            unused = Decimal(rng.randint(10000, 500000)).scaleb(-2)
        elif rng.random() < 0.03:
            unused = Decimal(rng.randint(100, 10000)).scaleb(-2)
        account = self.accounts[rng.choice(["petty", "undeposited", "bank"])]
        return {
            "payment_id": pid, "payment_number": "", "date": self.day(ctime),
            "payment_mode": rng.choice(PAYMENT_MODES), "amount": total_applied + unused,
            "bcy_amount": total_applied + unused, "unused_amount": unused, "amount_refunded": ZERO2,
            "bank_charges": ZERO2, "status": "success", "account_id": account[0], "account_name": account[1],
            "description": "", "reference_number": f"TRX{rng.randint(100000, 999999)}" if rng.random() < 0.6 else "",
            "customer_id": customer["contact_id"], "customer_name": customer["contact_name"],
            "email": customer["email"], "currency_id": customer["currency_id"],
            "currency_code": customer["currency_code"], "currency_symbol": customer["currency_code"],
            "exchange_rate": Decimal("1.00"), "invoices": applied,
            "invoice_numbers": ", ".join(a["invoice_number"] for a in applied),
            "location_id": self.warehouse_list[0]["warehouse_id"] if self.warehouse_list else "",
            "custom_fields": [], "_ctime": ctime,
        }

    def make_bill(self, vendor: dict, created: int, modified: int, lines: list | None = None) -> dict:
        rng = self.rng
        if lines is None:
            lines = self.make_lines()
            for line in lines:  # bills are priced at purchase rates
                item = self.rows["items"].get(line["item_id"])
                if item is not None:
                    line["rate"] = item["purchase_rate"]
                line["discount"] = ZERO2
        doc = self._document("bill", vendor, created, lines, 0.05)
        bid = self.ids.next()
        due = datetime.fromtimestamp(created, self.tz).date() + timedelta(days=vendor["payment_terms"] or 30)
        roll = rng.random()
        if roll < 0.05:
            status = "void"
        elif roll < 0.65:
            status = "paid"
        else:
            status = "overdue" if due < self.ref_date else "open"
        paid = doc["total"] if status == "paid" else ZERO2
        doc.update({"bill_id": bid, "bill_number": f"BILL-{self.next_number('bill'):05d}", "status": status,
                    "vendor_id": vendor["contact_id"], "vendor_name": vendor["contact_name"],
                    "due_date": due.isoformat(), "payment_terms": vendor["payment_terms"],
                    "payment_terms_label": vendor["payment_terms_label"], "payment_made": paid,
                    "balance": ZERO2 if status in ("void", "paid") else doc["total"],
                    "reference_number": f"VINV-{rng.randint(1000, 99999)}",
                    "billing_address": dict(vendor["billing_address"])})
        self._put("bills", bid, doc, created, modified)
        return doc

    def make_salesorder(self, customer: dict, created: int, modified: int, users: list | None = None,
                        lines: list | None = None) -> dict:
        rng = self.rng
        doc = self._document("salesorder", customer, created, lines if lines is not None else self.make_lines(), 0.1)
        sid = self.ids.next()
        roll = rng.random()
        if roll < 0.1:
            st = ("draft", "draft", "pending", "not_invoiced", "unpaid")
        elif roll < 0.15:
            st = ("void", "void", "pending", "not_invoiced", "unpaid")
        elif roll < 0.35:
            st = ("open", "confirmed", "pending", "not_invoiced", "unpaid")
        elif roll < 0.5:
            st = ("open", "confirmed", "partially_shipped", "partially_invoiced", "partially_paid")
        elif roll < 0.6:
            st = ("confirmed", "confirmed", "shipped", "invoiced", "unpaid")
        else:
            st = ("closed", "closed", "fulfilled", "invoiced", "paid")
        shipment = datetime.fromtimestamp(created, self.tz).date() + timedelta(days=rng.randint(1, 14))
        doc.update({
            "salesorder_id": sid, "salesorder_number": f"SO-{self.next_number('salesorder'):05d}",
            **self._customer_fields(customer), "status": st[0], "order_status": st[1], "shipped_status": st[2],
            "invoiced_status": st[3], "paid_status": st[4], "shipment_date": shipment.isoformat(),
            "delivery_method": rng.choice(["Courier", "Pickup", "Own fleet", ""]),
            "bcy_total": doc["total"], "quantity": sum((line["quantity"] for line in doc["line_items"]), ZERO2),
            "is_emailed": rng.random() < 0.5,
            "salesperson_name": rng.choice(users)["name"] if users and rng.random() < 0.5 else "",
            "reference_number": f"PO-{rng.randint(1000, 99999)}" if rng.random() < 0.4 else "",
        })
        self._put("salesorders", sid, doc, created, modified)
        return doc

    # ------------------------------------------------------------------ inventory adjustments
    def _generate_adjustments(self) -> None:
        """Past quantity adjustments, applied in date order to the items' generated stock.

        The stock drawn for an item is its stock before any adjustment; each adjustment then
        moves one warehouse's figure of each item it names, so the items' final figures include
        every adjustment and a decrease never takes a warehouse below its committed stock.
        """
        n = self.counts.get("inventoryadjustments", 0)
        shape = self.shape
        prefix = level_prefix(shape)
        tracked = [r for r in self.rows.get("items", {}).values()
                   if r.get("item_type") == "inventory" and r.get(shape)]
        if not n or not tracked:
            return
        rng = self.rng
        item_ctime = self.ctime["items"]
        for created, _ in self._sorted_times(n):
            existing = [r for r in tracked if item_ctime[r["item_id"]] <= created]
            if not existing:
                continue
            chosen = rng.sample(existing, k=min(len(existing), rng.choice([1, 1, 1, 2, 2, 3])))
            lines = []
            for item in chosen:
                row = rng.choice(item[shape])
                spare = int(row[prefix + "stock_on_hand"] - row[prefix + "committed_stock"])
                if spare > 0 and rng.random() < 0.45:
                    quantity = -rng.randint(1, min(spare, 10))
                else:
                    quantity = rng.randint(1, 25)
                lines.append({"item_id": item["item_id"], prefix + "id": row[prefix + "id"],
                              "quantity_adjusted": quantity})
            record = self.make_adjustment(created, created, self.adjustment_lines(lines))
            for item_id in self.apply_adjustment(record["line_items"]):
                self._touch("items", item_id, created)

    def _adjustment_reasons(self) -> list[tuple[str, str]]:
        if not self.adjustment_reasons:  # drawn on first use, after the rest of the data
            self.adjustment_reasons = [(self.ids.next(), reason) for reason in ADJUSTMENT_REASONS]
        return self.adjustment_reasons

    def make_adjustment(self, created: int, modified: int, lines: list[dict], fields: dict | None = None) -> dict:
        """A quantity adjustment in Zoho Inventory's detail form, from lines made by
        :meth:`adjustment_lines` (the items' stock is not touched here: see :meth:`apply_adjustment`)."""
        rng = self.rng
        fields = dict(fields or {})
        reasons = self._adjustment_reasons()
        if all(line["quantity_adjusted"] > 0 for line in lines):
            fitting = ADJUSTMENT_REASONS_UP
        elif all(line["quantity_adjusted"] < 0 for line in lines):
            fitting = ADJUSTMENT_REASONS_DOWN
        else:
            fitting = ADJUSTMENT_REASONS[:1]
        reason_id, reason = rng.choice([r for r in reasons if r[1] in fitting])
        if "reason" in fields:
            reason = fields.pop("reason")
            reason_id = next((rid for rid, name in reasons if name == reason), "")
        aid = self.ids.next()
        record = {
            "inventory_adjustment_id": aid, "date": self.day(created), "reason": reason, "reason_id": reason_id,
            "description": rng.choice(ADJUSTMENT_NOTES),
            "reference_number": f"ADJ-{self.next_number('inventoryadjustment'):05d}" if rng.random() < 0.8 else "",
            "adjustment_type": "quantity", "status": "adjusted",
            "line_items": lines, "custom_fields": [],
        }
        record["total"] = sum((line["item_total"] for line in record["line_items"]), ZERO2)
        record.update(fields)
        self._put("inventoryadjustments", aid, record, created, modified)
        return record

    def adjustment_lines(self, raw_lines: list[dict]) -> list[dict]:
        """Adjustment lines in this organization's shape, checked against its items and warehouses.

        Each raw line names ``item_id``, ``quantity_adjusted`` and optionally ``warehouse_id`` or
        ``location_id`` (the primary warehouse when neither is given). Raises
        :class:`UnknownReference` for an unknown item or warehouse and :class:`InvalidReference`
        for an item whose stock is not tracked.
        """
        items = self.rows.get("items", {})
        warehouses = self.rows.get("warehouses", {})
        prefix = level_prefix(self.shape)
        out = []
        for order, raw in enumerate(raw_lines, start=1):
            item = items.get(str(raw.get("item_id") or ""))
            if item is None:
                raise UnknownReference("Item does not exist.")
            if item.get("item_type") != "inventory":
                raise InvalidReference(f"Item {item['item_id']} does not track inventory; it cannot be adjusted.")
            wid = str(raw.get("warehouse_id") or raw.get("location_id") or "")
            if not wid:
                wid = next((w["warehouse_id"] for w in warehouses.values() if w.get("is_primary")),
                           next(iter(warehouses), ""))
            warehouse = warehouses.get(wid)
            if warehouse is None:
                raise UnknownReference("Warehouse does not exist." if self.shape == "warehouses"
                                       else "Location does not exist.")
            quantity = stock(raw.get("quantity_adjusted", raw.get("quantity", 1)))
            cost = money(item.get("purchase_rate") or 0)
            out.append({
                "line_item_id": str(raw.get("line_item_id") or self.ids.next()), "item_id": item["item_id"],
                "name": item["name"], "description": raw.get("description", ""), "item_order": order,
                "quantity_adjusted": quantity, "item_total": money(quantity * cost), "unit": item["unit"],
                "is_combo_product": False, "adjustment_account_id": self.accounts["cogs"][0],
                "adjustment_account_name": self.accounts["cogs"][1],
                prefix + "id": warehouse["warehouse_id"], prefix + "name": warehouse["warehouse_name"],
            })
        return out

    def apply_adjustment(self, lines: list[dict], sign: int = 1) -> list[str]:
        """Move the named items' per-warehouse stock by ``sign × quantity_adjusted`` and recompute
        their totals; returns the ids of the items changed, in line order."""
        shape = self.shape
        prefix = level_prefix(shape)
        items = self.rows.get("items", {})
        warehouses = self.rows.get("warehouses", {})
        changed: list[str] = []
        for line in lines:
            item = items.get(line["item_id"])
            if item is None or item.get("item_type") != "inventory":
                continue
            wid = line.get(prefix + "id") or line.get("warehouse_id") or line.get("location_id")
            rows = item.setdefault(shape, [])
            row = next((r for r in rows if r[prefix + "id"] == wid), None)
            if row is None:  # a warehouse added after the item: its row starts at zero
                row = level_row(shape, warehouses[wid], 0, 0)
                rows.append(row)
            set_level(row, prefix, row[prefix + "stock_on_hand"] + sign * stock(line["quantity_adjusted"]))
            recompute_item(item)
            if item["item_id"] not in changed:
                changed.append(item["item_id"])
        return changed


# --------------------------------------------------------------------------- derived figures

def normalize_lines(doc: dict, org: OrgData) -> None:
    """Give every line its id, order, defaults from its item, and ``item_total``; then the totals."""
    lines = []
    for order, raw in enumerate(doc.get("line_items") or [], start=1):
        line = dict(raw)
        item = org.rows.get("items", {}).get(str(line.get("item_id") or ""))
        if item is not None:
            for key in ("name", "description", "sku", "unit", "rate", "tax_id", "tax_name", "tax_percentage"):
                line.setdefault(key, item[key])
        else:
            line["item_id"] = str(line.get("item_id") or "")
            line.setdefault("name", "Item")
            line.setdefault("rate", ZERO2)
        if "tax_id" in line and "tax_percentage" not in line:
            tax = org.tax_by_id.get(line["tax_id"])
            line["tax_name"], line["tax_percentage"] = (tax[1], tax[2]) if tax else ("", 0)
        line.setdefault("tax_id", "")
        line.setdefault("tax_name", "")
        line.setdefault("tax_percentage", 0)
        line.setdefault("description", "")
        line["line_item_id"] = str(line.get("line_item_id") or org.ids.next())
        line["item_order"] = order
        line["rate"] = money(line["rate"])
        line["bcy_rate"] = line["rate"]
        line["quantity"] = money(line.get("quantity", 1))
        line["discount"] = money(line.get("discount", 0))
        line["item_total"] = money(line["rate"] * line["quantity"] - line["discount"])
        lines.append(line)
    doc["line_items"] = lines
    recompute_totals(doc)


def recompute_totals(doc: dict) -> None:
    """sub_total = Σ item_total; tax per line; total = sub_total + tax_total − discount."""
    sub_total = ZERO2
    taxes: dict[str, Decimal] = {}
    for line in doc.get("line_items", []):
        sub_total += line["item_total"]
        if line.get("tax_percentage"):
            amount = money(line["item_total"] * Decimal(str(line["tax_percentage"])) / 100)
            taxes[line["tax_name"]] = taxes.get(line["tax_name"], ZERO2) + amount
    tax_total = sum(taxes.values(), ZERO2)
    doc["sub_total"] = sub_total
    doc["tax_total"] = tax_total
    doc["taxes"] = [{"tax_name": name, "tax_amount": amount} for name, amount in taxes.items()]
    doc["discount"] = money(doc.get("discount", 0))
    doc["total"] = sub_total + tax_total - doc["discount"]
    if "bcy_total" in doc:
        doc["bcy_total"] = doc["total"]


def settle_invoice(inv: dict, today: date) -> None:
    """Balance and status from total, payments and credits (draft and void stay as they are)."""
    if inv["status"] == "void":
        inv["balance"] = ZERO2
        return
    inv["balance"] = inv["total"] - inv["payment_made"] - inv["credits_applied"]
    if inv["status"] == "draft":
        return
    due = date.fromisoformat(inv["due_date"])
    if inv["balance"] <= 0:
        inv["status"] = "paid"
        inv["due_days"] = ""
    elif inv["payment_made"] > 0 or inv["credits_applied"] > 0:
        inv["status"] = "partially_paid"
    else:
        inv["status"] = "overdue" if due < today else "sent"
    if inv["balance"] > 0:
        days = (due - today).days
        inv["due_days"] = f"Due in {days} day(s)" if days >= 0 else f"Overdue by {-days} day(s)"


def recompute_item(record: dict) -> None:
    """Item totals are the sums of its per-warehouse (or per-location) stock."""
    rows = record.get("warehouses") or record.get("locations")
    if rows is None or record.get("item_type") != "inventory":
        return
    prefix = "warehouse_" if "warehouses" in record else "location_"
    on_hand = sum((r[prefix + "stock_on_hand"] for r in rows), ZERO6)
    committed = sum((r[prefix + "committed_stock"] for r in rows), ZERO6)
    record["stock_on_hand"] = on_hand
    record["available_stock"] = on_hand - committed
    record["actual_available_stock"] = on_hand - committed
    record["committed_stock"] = committed
    record["actual_committed_stock"] = committed
    record["available_for_sale_stock"] = on_hand - committed
    record["actual_available_for_sale_stock"] = on_hand - committed


def level_prefix(shape: str) -> str:
    """Key prefix of a per-warehouse stock row: ``warehouse_`` or ``location_``."""
    return "warehouse_" if shape == "warehouses" else "location_"


def level_row(shape: str, warehouse: dict, on_hand, committed) -> dict:
    """One item's stock row for one warehouse, in the legacy ``warehouses[]`` or the ``locations[]`` shape."""
    oh, cm = stock(on_hand), stock(committed)
    if shape == "warehouses":
        return {
            "warehouse_id": warehouse["warehouse_id"], "warehouse_name": warehouse["warehouse_name"],
            "status": warehouse["status"], "is_primary": warehouse["is_primary"],
            "warehouse_stock_on_hand": oh, "initial_stock": stock(0), "initial_stock_rate": ZERO2,
            "warehouse_available_stock": oh - cm, "warehouse_actual_available_stock": oh - cm,
            "warehouse_committed_stock": cm, "warehouse_actual_committed_stock": cm,
            "warehouse_available_for_sale_stock": oh - cm,
            "warehouse_actual_available_for_sale_stock": oh - cm,
            "is_fba_warehouse": False, "sales_channels": [],
        }
    return {
        "location_id": warehouse["warehouse_id"], "location_name": warehouse["warehouse_name"],
        "status": warehouse["status"], "is_primary": warehouse["is_primary"],
        "location_stock_on_hand": oh, "location_available_stock": oh - cm,
        "location_actual_available_stock": oh - cm, "location_committed_stock": cm,
        "location_actual_committed_stock": cm, "location_available_for_sale_stock": oh - cm,
        "location_actual_available_for_sale_stock": oh - cm,
    }


def set_level(row: dict, prefix: str, on_hand) -> None:
    """One warehouse row's figures from its stock on hand and committed stock."""
    on_hand = stock(on_hand)
    committed = stock(row.get(prefix + "committed_stock", 0))
    row[prefix + "stock_on_hand"] = on_hand
    row[prefix + "committed_stock"] = committed
    row[prefix + "actual_committed_stock"] = committed
    for key in ("available_stock", "actual_available_stock", "available_for_sale_stock",
                "actual_available_for_sale_stock"):
        row[prefix + key] = on_hand - committed


# --------------------------------------------------------------------------- CRM

class CrmData:
    """Zoho CRM Accounts and Contacts (one CRM account, shared by every organization)."""

    def __init__(self, seed: int, counts: dict, tz: timezone):
        self.rng = random.Random(f"tds-simulator-crm:{seed}")
        self.ids = IdSource(5725767, self.rng)
        self.tz = tz
        self.ref_ts = int(datetime(*REFERENCE_DATE, tzinfo=tz).timestamp())
        self.counts = counts
        self.rows: dict[str, dict[str, dict]] = {"crm_accounts": {}, "crm_contacts": {}}
        self.ctime: dict[str, dict[str, int]] = {"crm_accounts": {}, "crm_contacts": {}}
        self.mtime: dict[str, dict[str, int]] = {"crm_accounts": {}, "crm_contacts": {}}
        self.owners = [{"name": f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}", "id": self.ids.next(),
                        "email": f"owner{i}@crm.example.com"} for i in range(5)]

    def fmt(self, ts: int) -> str:
        return format_time(ts, self.tz, colon=True)

    def _put(self, resource: str, rid: str, record: dict, created: int, modified: int) -> None:
        self.rows[resource][rid] = record
        self.ctime[resource][rid] = created
        self.mtime[resource][rid] = modified
        record["Created_Time"] = self.fmt(created)
        record["Modified_Time"] = self.fmt(modified)

    def _times(self) -> tuple[int, int]:
        created = self.ref_ts - self.rng.randint(3600, HISTORY_DAYS * 86400)
        return created, created + int((self.ref_ts - created) * self.rng.random() ** 2)

    def generate(self) -> CrmData:
        for _ in range(self.counts["crm_accounts"]):
            self.make_account()
        accounts = list(self.rows["crm_accounts"].values())
        for _ in range(self.counts["crm_contacts"]):
            self.make_contact(accounts)
        return self

    def make_account(self, fields: dict | None = None, ts: int | None = None) -> dict:
        rng = self.rng
        rid = self.ids.next()
        name = rng.choice(AR_COMPANIES) if rng.random() < 0.4 else f"{rng.choice(EN_COMPANIES)} {rng.choice(SUFFIXES)}".strip()
        city = rng.choice(CITIES)
        owner = rng.choice(self.owners)
        record = {"id": rid, "Account_Name": f"{name} {len(self.rows['crm_accounts']) + 1}",
                  "Account_Number": str(rng.randint(100000, 999999)), "Account_Type": rng.choice(["Customer", "Prospect", "Partner"]),
                  "Industry": rng.choice(INDUSTRIES), "Phone": f"+9661{rng.randint(10000000, 99999999)}",
                  "Website": "", "Billing_City": city[0], "Billing_State": city[1], "Billing_Country": "Saudi Arabia",
                  "Description": None, "Owner": dict(owner),
                  "Created_By": dict(owner), "Modified_By": dict(owner), "$currency_symbol": "SAR"}
        if fields:
            record.update(fields)
        created, modified = (ts, ts) if ts is not None else self._times()
        self._put("crm_accounts", rid, record, created, modified)
        return record

    def make_contact(self, accounts: list | None = None, fields: dict | None = None, ts: int | None = None) -> dict:
        rng = self.rng
        rid = self.ids.next()
        accounts = accounts if accounts is not None else list(self.rows["crm_accounts"].values())
        arabic = rng.random() < 0.3
        first = rng.choice(AR_FIRST if arabic else FIRST)
        last = rng.choice(AR_LAST if arabic else LAST)
        account = rng.choice(accounts) if accounts and rng.random() < 0.9 else None
        owner = rng.choice(self.owners)
        n = len(self.rows["crm_contacts"]) + 1
        record = {"id": rid, "First_Name": first, "Last_Name": last, "Full_Name": f"{first} {last}",
                  "Email": f"crm.contact{n}@example.com", "Phone": f"+9661{rng.randint(10000000, 99999999)}",
                  "Mobile": f"+9665{rng.randint(10000000, 99999999)}", "Title": rng.choice(["Manager", "Buyer", "CEO", None]),
                  "Mailing_City": rng.choice(CITIES)[0], "Mailing_Country": "Saudi Arabia",
                  "Account_Name": {"name": account["Account_Name"], "id": account["id"]} if account else None,
                  "Owner": dict(owner), "Created_By": dict(owner), "Modified_By": dict(owner)}
        if fields:
            record.update(fields)
        created, modified = (ts, ts) if ts is not None else self._times()
        self._put("crm_contacts", rid, record, created, modified)
        return record
