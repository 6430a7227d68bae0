"""Master data of the demo company (a Kenyan trading and services firm, home currency KES).

Every AWRA master record is mapped to a QBO record that agrees with it, except the planted
mapping problems, which are marked here with the finding they must produce (``Expect``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconcile.demo._model import Expect, Master, QRef

CURRENCY_NAMES = {"KES": "Kenyan Shilling", "USD": "United States Dollar"}

#: AWRA account type -> QBO (AccountType, Classification, AccountSubType) the demo uses when clean.
QBO_ACCOUNT_TYPE = {
    "bank": ("Bank", "Asset", "Checking"),
    "receivable": ("Accounts Receivable", "Asset", "AccountsReceivable"),
    "asset": ("Other Current Asset", "Asset", "OtherCurrentAssets"),
    "payable": ("Accounts Payable", "Liability", "AccountsPayable"),
    "liability": ("Other Current Liability", "Liability", "OtherCurrentLiabilities"),
    "equity": ("Equity", "Equity", "RetainedEarnings"),
    "income": ("Income", "Revenue", "ServiceFeeIncome"),
    "expense": ("Expense", "Expense", "OtherMiscellaneousServiceCost"),
}

# (code, name, awra type, QBO override (AccountType, Classification, SubType) or None, role)
_ACCOUNTS: list[tuple[str, str, str, tuple[str, str, str] | None, str]] = [
    ("1000", "Cash on Hand", "bank", ("Bank", "Asset", "CashOnHand"), ""),
    ("1010", "Equity Bank KES", "bank", None, ""),
    ("1020", "KCB USD Account", "bank", None, "usd"),
    ("1030", "M-Pesa Float", "bank", ("Other Current Asset", "Asset", "OtherCurrentAssets"), "type_mismatch"),
    ("1040", "Card Settlement Clearing", "bank", None, ""),
    ("1050", "Airtel Money Float", "bank", None, "unmapped"),
    ("1100", "Accounts Receivable", "receivable", None, ""),
    ("1300", "Inventory Asset", "asset", ("Other Current Asset", "Asset", "Inventory"), ""),
    ("1400", "Prepaid Expenses", "asset", ("Other Current Asset", "Asset", "PrepaidExpenses"), ""),
    ("1500", "Office Equipment", "asset", ("Fixed Asset", "Asset", "MachineryAndEquipment"), ""),
    ("1510", "Accumulated Depreciation", "asset", ("Fixed Asset", "Asset", "AccumulatedDepreciation"), ""),
    ("2000", "Accounts Payable", "payable", None, ""),
    ("2100", "VAT Payable", "liability", ("Other Current Liability", "Liability", "GlobalTaxPayable"), ""),
    ("2200", "Accrued Expenses", "liability", None, ""),
    ("2300", "Bank Loan", "liability", ("Long Term Liability", "Liability", "NotesPayable"), ""),
    ("3000", "Share Capital", "equity", ("Equity", "Equity", "OwnersEquity"), ""),
    ("3100", "Retained Earnings", "equity", None, ""),
    ("4000", "Sales of Goods", "income", ("Income", "Revenue", "SalesOfProductIncome"), ""),
    ("4100", "Service Income", "income", None, ""),
    ("4110", "Consulting Income", "income", None, ""),
    ("4200", "Other Income", "income", ("Income", "Revenue", "OtherPrimaryIncome"), ""),
    ("5000", "Cost of Goods Sold", "expense", ("Cost of Goods Sold", "Expense", "SuppliesMaterialsCogs"), ""),
    ("5100", "Subcontractor Costs", "expense", None, ""),
    ("5200", "Consumables", "expense", ("Expense", "Expense", "SuppliesMaterials"), ""),
    ("6000", "Rent", "expense", ("Expense", "Expense", "RentOrLeaseOfBuildings"), ""),
    ("6100", "Salaries and Wages", "expense", ("Expense", "Expense", "PayrollExpenses"), ""),
    ("6200", "Utilities", "expense", ("Expense", "Expense", "Utilities"), ""),
    ("6300", "Transport and Fuel", "expense", ("Expense", "Expense", "Auto"), ""),
    ("6400", "Bank Charges", "expense", ("Expense", "Expense", "BankCharges"), ""),
    ("6500", "Discounts Allowed", "expense", ("Income", "Revenue", "DiscountsRefundsGiven"), "type_mismatch"),
    ("6600", "Staff Entertainment", "expense", ("Expense", "Expense", "Entertainment"), "qbo_inactive"),
    ("6700", "Depreciation", "expense", None, ""),
]

# (code, name, rate %, QBO rate value, special type)
_TAX_CODES = [
    ("VAT16", "VAT 16%", 16, 16, "NONE"),
    ("ZERO", "Zero-rated 0%", 0, 0, "ZERO_RATE"),
    ("EXEMPT", "Exempt", 0, 0, "EXEMPT"),
    ("ST8", "Service Tax 8%", 8, 6, "NONE"),  # QBO's rate says 6%: mapping_mismatch
]

# (name, type, price KES, income account code, expense account code, tax code, role)
_ITEMS: list[tuple[str, str, int, str, str, str, str]] = [
    ("Consulting (per hour)", "service", 4500, "4110", "5100", "VAT16", "income_mismatch"),
    ("Installation Service", "service", 3500, "4100", "5100", "VAT16", ""),
    ("Maintenance Contract (monthly)", "service", 25000, "4100", "5100", "VAT16", ""),
    ("Delivery Charge", "service", 1500, "4200", "6300", "VAT16", ""),
    ("Training Session", "service", 18000, "4100", "5100", "EXEMPT", ""),
    ("Equipment Hire (per day)", "service", 6000, "4100", "5100", "ST8", ""),
    ("Repair Labour (per hour)", "service", 2000, "4100", "5100", "ST8", ""),
    ("Design Service", "service", 12000, "4110", "5100", "ST8", ""),
    ("Cleaning Service", "service", 8000, "4100", "5100", "VAT16", ""),
    ("Support Call-out", "service", 5000, "4100", "5100", "VAT16", ""),
    ("Cement 50kg Bag", "inventory", 850, "4000", "5000", "VAT16", ""),
    ("Iron Sheet 3m", "inventory", 1250, "4000", "5000", "VAT16", ""),
    ("Paint 20L", "inventory", 7800, "4000", "5000", "VAT16", ""),
    ("Maize Flour 2kg (bale)", "inventory", 2400, "4000", "5000", "ZERO", ""),
    ("Cooking Oil 20L", "inventory", 5600, "4000", "5000", "VAT16", ""),
    ("Solar Lamp", "inventory", 3200, "4000", "5000", "EXEMPT", ""),
    ("LED Bulb Pack", "inventory", 950, "4000", "5000", "VAT16", ""),
    ("Water Tank 1000L", "inventory", 14500, "4000", "5000", "VAT16", ""),
    ("Steel Nails 1kg", "inventory", 300, "4000", "5000", "VAT16", ""),
    ("PVC Pipe 4m", "inventory", 1100, "4000", "5000", "VAT16", ""),
    ("Printer Paper Ream", "inventory", 650, "4000", "5000", "VAT16", ""),
    ("Exercise Books (dozen)", "inventory", 900, "4000", "5000", "ZERO", ""),
    ("Safety Gloves (pair)", "non_inventory", 450, "4000", "5200", "VAT16", ""),
    ("Cleaning Supplies Kit", "non_inventory", 2500, "4000", "5200", "VAT16", ""),
    ("Packaging Boxes (50)", "non_inventory", 1800, "4000", "5200", "VAT16", ""),
    ("Branded T-Shirt", "non_inventory", 900, "4000", "5200", "VAT16", ""),
    ("Gift Hamper", "non_inventory", 4500, "4000", "5200", "VAT16", ""),
    ("Fuel Voucher", "non_inventory", 5000, "4000", "5200", "EXEMPT", ""),
    ("Stationery Pack", "non_inventory", 1200, "4000", "5200", "VAT16", ""),
    ("First Aid Kit", "non_inventory", 3500, "4000", "5200", "VAT16", ""),
    ("Tile Adhesive 20kg", "inventory", 1600, "4000", "5000", "VAT16", "unmapped"),
    ("Legacy Spare Part", "non_inventory", 700, "4000", "5200", "VAT16", "broken"),
]

_BRANCHES = ["Nairobi HQ", "Mombasa", "Kisumu"]

# (name, weight, currency, role)
_CUSTOMERS: list[tuple[str, int, str, str]] = [
    ("Amani Hardware Ltd", 6, "KES", ""),
    ("Baraka Supermarket", 5, "KES", ""),
    ("Chania Motors", 3, "KES", ""),
    ("Duka Moja Stores", 4, "KES", ""),
    ("Eldoret Agrovet", 3, "KES", ""),
    ("Faraja Medical Centre", 2, "KES", ""),
    ("Gikomba Textiles", 3, "KES", ""),
    ("Harambee Cooperative", 4, "KES", ""),
    ("Imara Builders", 5, "KES", ""),
    ("Jamii Pharmacy", 3, "KES", "dup_first"),
    ("Kilimo Traders", 4, "KES", "qbo_twin"),
    ("Lamu Beach Hotel", 2, "KES", ""),
    ("Maisha Foods Ltd", 4, "KES", ""),
    ("Nyota Electronics", 3, "KES", ""),
    ("Olkaria Engineering", 2, "KES", ""),
    ("Pwani Fisheries", 2, "KES", "qbo_inactive"),
    ("Rafiki Logistics", 3, "KES", ""),
    ("Savannah Lodges", 2, "KES", ""),
    ("Tumaini School", 2, "KES", ""),
    ("Upendo Bakery", 3, "KES", ""),
    ("Vuma Telecom", 2, "KES", ""),
    ("Wema Clinic", 2, "KES", ""),
    ("Yatta Farm Supplies", 3, "KES", ""),
    ("Zuri Salon & Spa", 1, "KES", ""),
    ("Acacia Consulting", 2, "KES", ""),
    ("Bahari Resorts", 2, "KES", ""),
    ("Cedar Office Park", 2, "KES", ""),
    ("Delta Print Works", 2, "KES", ""),
    ("Equator Coffee House", 2, "KES", ""),
    ("Flamingo Events", 2, "KES", ""),
    ("Greenfield Academy", 2, "KES", ""),
    ("Highland Dairy", 3, "KES", ""),
    ("Ivory Interiors", 2, "KES", ""),
    ("Jua Kali Fabricators", 2, "KES", ""),
    ("Kifaru Security", 2, "KES", ""),
    ("Lulu Boutique", 1, "KES", ""),
    ("Kampala Trading Co", 2, "USD", ""),
    ("Kigali Ventures Ltd", 1, "USD", ""),
    ("Arusha Safari Outfitters", 1, "USD", ""),
    ("Jamii Pharmacy Ltd", 2, "KES", "dup_second"),
    ("Zawadi Florists", 0, "KES", "unmapped"),
    ("Old Town Cafe", 0, "KES", "inactive"),
    ("Mvita Stationers", 0, "KES", "inactive"),
]

# (name, kind goods|account, account code, tax code, role)
_VENDORS: list[tuple[str, str, str, str, str]] = [
    ("Bidco Distributors", "goods", "", "VAT16", ""),
    ("Mabati Rolling Mills", "goods", "", "VAT16", ""),
    ("East African Packaging", "goods", "", "VAT16", ""),
    ("Unga Millers", "goods", "", "VAT16", ""),
    ("Chandarana Wholesale", "goods", "", "VAT16", ""),
    ("Kenya Power", "account", "6200", "VAT16", ""),
    ("Nairobi Water Company", "account", "6200", "EXEMPT", ""),
    ("Safaricom PLC", "account", "6200", "VAT16", ""),
    ("Safari Logistics", "account", "6300", "VAT16", "qbo_twin"),
    ("Total Energies Kenya", "account", "6300", "VAT16", ""),
    ("Jubilee Insurance", "account", "1400", "EXEMPT", ""),
    ("Pinnacle Properties", "account", "6000", "VAT16", ""),
    ("Copy Cat Ltd", "account", "5200", "VAT16", ""),
    ("Kazi Bora Contractors", "account", "5100", "VAT16", ""),
    ("Sameer Office Supplies", "goods", "", "VAT16", "broken"),
    ("Kisii Timber Yard", "goods", "", "VAT16", "unmapped"),
]

# (code, name, method type, deposit account code, QBO Type)
_METHODS = [
    ("CASH", "Cash", "cash", "1000", "NON_CREDIT_CARD"),
    ("CARD", "Card", "card", "1040", "NON_CREDIT_CARD"),  # a card method on a non-card QBO method
    ("BANK", "Bank Transfer", "bank", "1010", "NON_CREDIT_CARD"),
    ("MOBILE", "Mobile Money", "mobile_money", "1030", "NON_CREDIT_CARD"),
]


@dataclass
class Masters:
    """All master data, AWRA and QBO, plus the mapping findings planted in it."""

    customers: list[Master] = field(default_factory=list)
    vendors: list[Master] = field(default_factory=list)
    items: list[Master] = field(default_factory=list)
    tax_codes: list[Master] = field(default_factory=list)
    accounts: list[Master] = field(default_factory=list)
    methods: list[Master] = field(default_factory=list)
    qbo: dict[str, list[QRef]] = field(default_factory=dict)
    expects: list[Expect] = field(default_factory=list)

    def account(self, code: str) -> Master:
        """The AWRA account with this GL code."""
        return next(a for a in self.accounts if a.code == code)

    def tax(self, code: str) -> Master:
        """The AWRA tax code with this code."""
        return next(t for t in self.tax_codes if t.code == code)

    def by_role(self, kind: str, role: str) -> Master:
        """The master record of a kind planted with a role."""
        pool = {
            "customer": self.customers,
            "vendor": self.vendors,
            "item": self.items,
            "account": self.accounts,
            "payment_method": self.methods,
        }[kind]
        return next(m for m in pool if m.role == role)

    def all(self) -> list[Master]:
        """Every AWRA master record."""
        return [*self.customers, *self.vendors, *self.items, *self.tax_codes, *self.accounts, *self.methods]


def _map(m: Master, q: QRef | None, *, name: str | None = None) -> None:
    m.qref = q
    if q is not None:
        m.map_id = q.id
        m.map_name = name or q.name


def build_masters() -> Masters:
    """The demo company's masters (fixed: no randomness, so every seed shares them)."""
    ms = Masters()
    qa: list[QRef] = []
    # ---- accounts
    for i, (code, name, kind, override, role) in enumerate(_ACCOUNTS):
        m = Master("account", str(4001 + i), code, name, extra={"account_type": kind}, role=role)
        qtype, qclass, sub = override or QBO_ACCOUNT_TYPE[kind]
        if role == "unmapped":
            ms.accounts.append(m)
            continue
        q = QRef("Account", str(len(qa) + 30), name, extra={"AccountType": qtype, "Classification": qclass})
        q.extra["AccountSubType"] = sub
        q.extra["AcctNum"] = code
        q.extra["currency"] = "USD" if role == "usd" else "KES"
        if role == "qbo_inactive":
            q.active = False
            q.name = f"{name} (deleted)"
        qa.append(q)
        _map(m, q, name=name)
        ms.accounts.append(m)
    # QBO-only accounts (no AWRA twin: not a finding)
    for name, qtype, qclass, sub in [
        ("Undeposited Funds", "Other Current Asset", "Asset", "UndepositedFunds"),
        ("Opening Balance Equity", "Equity", "Equity", "OpeningBalanceEquity"),
    ]:
        q = QRef("Account", str(len(qa) + 30), name, extra={"AccountType": qtype, "Classification": qclass})
        q.extra.update({"AccountSubType": sub, "AcctNum": "", "currency": "KES"})
        qa.append(q)
    ms.qbo["Account"] = qa

    # ---- tax codes and rates
    qcodes: list[QRef] = []
    qrates: list[QRef] = []
    for i, (code, name, rate, qrate, special) in enumerate(_TAX_CODES):
        m = Master("tax_code", str(5001 + i), code, name, extra={"rate_percent": rate})
        rate_name = "Service Tax" if code == "ST8" else name
        r = QRef("TaxRate", str(3 + i), rate_name, extra={"RateValue": qrate, "SpecialTaxType": special})
        qrates.append(r)
        q = QRef("TaxCode", str(2 + i), rate_name, extra={"rate": r, "taxable": code != "EXEMPT"})
        qcodes.append(q)
        _map(m, q)
        ms.tax_codes.append(m)
    ms.qbo["TaxCode"] = qcodes
    ms.qbo["TaxRate"] = qrates

    # ---- items
    qi: list[QRef] = []
    for i, (name, itype, price, inc, exp, tax, role) in enumerate(_ITEMS):
        m = Master(
            "item",
            str(3001 + i),
            f"ITM-{i + 1:03d}",
            name,
            extra={
                "item_type": itype,
                "income_account_id": ms.account(inc).id,
                "expense_account_id": ms.account(exp).id,
            },
            price_cents=price * 100,
            tax=ms.tax(tax),
            role=role,
        )
        ms.items.append(m)
        if role == "unmapped":
            continue
        if role == "broken":
            m.map_id, m.map_name = "999", name  # no QBO item 999
            continue
        income = ms.account("4100" if role == "income_mismatch" else inc).qref
        q = QRef(
            "Item",
            str(len(qi) + 1),
            name,
            extra={
                "Type": {"service": "Service", "inventory": "Inventory", "non_inventory": "NonInventory"}[itype],
                "income": income,
                "expense": ms.account(exp).qref,
                "asset": ms.account("1300").qref if itype == "inventory" else None,
                "price": price * 100,
                "tax": ms.tax(tax).qref,
            },
        )
        qi.append(q)
        _map(m, q)
    ms.qbo["Item"] = qi

    # ---- payment methods
    qm: list[QRef] = []
    for i, (code, name, mtype, deposit, qtype) in enumerate(_METHODS):
        m = Master("payment_method", str(6001 + i), code, name, extra={"method_type": mtype})
        m.account = ms.account(deposit)
        m.role = "card" if mtype == "card" else ""
        q = QRef("PaymentMethod", str(i + 1), name, extra={"Type": qtype})
        qm.append(q)
        _map(m, q)
        ms.methods.append(m)
    for name, qtype in [("Visa", "CREDIT_CARD"), ("Check", "NON_CREDIT_CARD")]:
        qm.append(QRef("PaymentMethod", str(len(qm) + 1), name, extra={"Type": qtype}))
    ms.qbo["PaymentMethod"] = qm

    # ---- customers and vendors (one QBO name list: shared Id sequence)
    names: list[QRef] = []

    def qname(entity: str, name: str, currency: str = "KES") -> QRef:
        q = QRef(entity, str(len(names) + 1), name, extra={"currency": currency})
        names.append(q)
        return q

    first_jamii: QRef | None = None
    for i, (name, weight, currency, role) in enumerate(_CUSTOMERS):
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:16]
        m = Master(
            "customer",
            str(1001 + i),
            f"CUS-{i + 1:03d}",
            name,
            active=role != "inactive",
            extra={"email": f"accounts@{slug}.co.ke"},
            currency=currency,
            role=role,
            weight=weight,
            branch=_BRANCHES[i % 3],
        )
        ms.customers.append(m)
        if role in ("unmapped", "inactive"):
            continue
        if role == "dup_second":
            assert first_jamii is not None
            _map(m, first_jamii)
            m.map_by = "grace.otieno"
            continue
        q = qname("Customer", name, currency)
        if role == "dup_first":
            first_jamii = q
        if role == "qbo_inactive":
            q.active = False
            q.name = f"{name} (deleted)"
        _map(m, q, name=name)
    for i, (name, kind, acct, tax, role) in enumerate(_VENDORS):
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:16]
        m = Master("vendor", str(2001 + i), f"VEN-{i + 1:03d}", name, role=role, tax=ms.tax(tax))
        m.extra["kind"] = kind
        m.extra["email"] = f"billing@{slug}.co.ke"
        if acct:
            m.account = ms.account(acct)
        ms.vendors.append(m)
        if role == "unmapped":
            continue
        if role == "broken":
            m.map_id, m.map_name = "998", name  # no QBO vendor 998
            continue
        _map(m, qname("Vendor", name))
    # QBO-side twins with the same name ignoring case and spacing (created later: higher Ids)
    kilimo_twin = qname("Customer", "KILIMO  TRADERS")
    safari_twin = qname("Vendor", "safari logistics")
    ms.qbo["Customer"] = [q for q in names if q.entity == "Customer"]
    ms.qbo["Vendor"] = [q for q in names if q.entity == "Vendor"]

    _mapping_expects(ms, kilimo_twin, safari_twin)
    _blank_cached_names(ms)
    return ms


def _blank_cached_names(ms: Masters) -> None:
    """Leave ``qbo_mappings.qbo_name`` blank (NULL or empty) or stale on many sound mappings.

    AWRA often does: the cached label is not kept up to date. A mapping is sound by its ``qbo_id``
    alone, so none of these may be reported (the manifest expects nothing of them).
    """
    for n, m in enumerate(m for m in ms.all() if not m.role and m.map_id is not None and m.qref is not None):
        if n % 4 == 1:
            m.map_name = None
        elif n % 4 == 3:
            m.map_name = ""
        elif n % 8 == 2:
            m.map_name = f"{m.name} (old name)"


def _mapping_expects(ms: Masters, kilimo_twin: QRef, safari_twin: QRef) -> None:
    ex = ms.expects
    n = 0

    def add(m: Master, category: str, why: str, qbo_id: str | None = None) -> None:
        nonlocal n
        n += 1
        ex.append(Expect(f"M{n:02d}", m.kind, category, why, master=m, qbo_id=qbo_id or m.map_id))

    add(ms.by_role("customer", "unmapped"), "mapping_missing", "active customer with no QBO mapping")
    add(ms.by_role("vendor", "unmapped"), "mapping_missing", "active vendor with no QBO mapping")
    add(ms.by_role("item", "unmapped"), "mapping_missing", "active item with no QBO mapping (unused)")
    add(ms.by_role("account", "unmapped"), "mapping_missing", "active bank account with no QBO mapping")
    add(ms.by_role("customer", "qbo_inactive"), "mapping_broken", "maps to a QBO customer made inactive")
    add(ms.by_role("vendor", "broken"), "mapping_broken", "maps to QBO vendor 998, which does not exist")
    add(ms.by_role("item", "broken"), "mapping_broken", "maps to QBO item 999, which does not exist")
    add(ms.by_role("account", "qbo_inactive"), "mapping_broken", "maps to a QBO account made inactive")
    add(
        ms.by_role("customer", "dup_second"),
        "mapping_duplicate",
        "maps to the same QBO customer as 'Jamii Pharmacy' (the extra is this one: higher code and id)",
    )
    add(
        ms.by_role("customer", "qbo_twin"),
        "mapping_duplicate",
        "QBO holds two active customers 'Kilimo Traders' / 'KILIMO  TRADERS'; the extra is the higher QBO Id "
        "(qbo_id names it); awra_id is the AWRA customer mapped to the group",
        qbo_id=kilimo_twin.id,
    )
    add(
        ms.by_role("vendor", "qbo_twin"),
        "mapping_duplicate",
        "QBO holds two active vendors 'Safari Logistics' / 'safari logistics'; extra = higher QBO Id",
        qbo_id=safari_twin.id,
    )
    add(ms.tax("ST8"), "mapping_mismatch", "tax rate: AWRA 8%, the mapped QBO tax code's rate is 6%")
    discounts = ms.account("6500")
    add(discounts, "mapping_mismatch", "account type: AWRA expense, QBO Income (classification Revenue)")
    add(ms.account("1030"), "mapping_mismatch", "account type: AWRA bank, QBO Other Current Asset (both Asset)")
    add(
        ms.by_role("item", "income_mismatch"),
        "mapping_mismatch",
        "item income account: AWRA 4110 Consulting Income, the QBO item's IncomeAccountRef is 4100 Service Income",
    )
    add(ms.by_role("payment_method", "card"), "mapping_mismatch", "card method mapped to a NON_CREDIT_CARD QBO method")
