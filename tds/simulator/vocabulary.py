"""Words the generated data is made of that more than one family uses (names, companies, places)."""

CATEGORIES = ["Filters", "Brakes", "Electrical", "Engine", "Cooling", "Suspension", "Lubricants", "Tools"]
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
ROLES = [("admin", "Admin"), ("staff", "Staff"), ("staff", "Sales Staff"), ("staff", "Warehouse Staff"),
         ("timesheetstaff", "Timesheet Staff")]
