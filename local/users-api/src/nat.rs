//! Per-nationality tables.
//!
//! randomuser.me shapes a user by nationality: the country name, the postcode
//! format (and whether it is a JSON number or a string), the phone formats and
//! the national id. This module holds those facts, one [`Profile`] per
//! supported [`Nat`]. Surnames, street suffixes and regions come from the
//! `fake` crate's locale data where it has a fitting locale; first names are
//! listed here by gender, because `fake` keeps a single unisex list and the
//! title and portrait of a user must agree with the gender.

use std::fmt;

use fake::locales::{DE_DE, Data, EN, FA_IR, FR_FR, NL_NL, PT_BR, TR_TR};

/// A nationality this service can generate, with randomuser.me's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Nat {
    Au,
    Br,
    Ca,
    De,
    Fr,
    Gb,
    Ir,
    Nl,
    No,
    Tr,
    Us,
}

impl Nat {
    /// Every supported nationality, in canonical order.
    pub const ALL: [Nat; 11] = [
        Nat::Au,
        Nat::Br,
        Nat::Ca,
        Nat::De,
        Nat::Fr,
        Nat::Gb,
        Nat::Ir,
        Nat::Nl,
        Nat::No,
        Nat::Tr,
        Nat::Us,
    ];

    /// The upper-case code used in the `nat` field of a user.
    pub fn code(self) -> &'static str {
        self.profile().code
    }

    /// Parses a code such as `us` or `GB`, ignoring case and surrounding spaces.
    pub fn parse(code: &str) -> Option<Nat> {
        let code = code.trim();
        Nat::ALL
            .into_iter()
            .find(|nat| nat.code().eq_ignore_ascii_case(code))
    }

    /// The generation tables of this nationality.
    pub fn profile(self) -> &'static Profile {
        match self {
            Nat::Au => &AU,
            Nat::Br => &BR,
            Nat::Ca => &CA,
            Nat::De => &DE,
            Nat::Fr => &FR,
            Nat::Gb => &GB,
            Nat::Ir => &IR,
            Nat::Nl => &NL,
            Nat::No => &NO,
            Nat::Tr => &TR,
            Nat::Us => &US,
        }
    }
}

impl fmt::Display for Nat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How a street name is put together from a surname and a suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreetStyle {
    /// `Valwood Pkwy`, `Yılmaz Sokak`.
    NameThenSuffix,
    /// `Rue Dupont`, `Rua Abreu`.
    SuffixThenName,
    /// `Schusterstraße`, `Haugenveien`.
    Joined,
}

/// A postcode format. The JSON type follows randomuser.me: numbers where the
/// national format is purely numeric and has no meaningful leading zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostcodeFormat {
    /// A JSON number in the inclusive range.
    Number { min: u32, max: u32 },
    /// A JSON string from one of the patterns (see [`crate::generate`] for
    /// the pattern characters).
    Text(&'static [&'static str]),
}

/// How the `id` object of a user is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFormat {
    /// `{"name": name, "value": <pattern filled>}`.
    Pattern {
        name: &'static str,
        pattern: &'static str,
    },
    /// French INSEE number, derived from gender and date of birth.
    Insee,
    /// German social insurance number, derived from the date of birth.
    Svnr,
    /// Norwegian birth number, derived from the date of birth.
    Fodselsnummer,
    /// `{"name": "", "value": null}`, as randomuser.me does for some nats.
    Absent,
}

/// Everything needed to generate a user of one nationality.
#[derive(Debug)]
pub struct Profile {
    pub code: &'static str,
    pub country: &'static str,
    pub first_male: &'static [&'static str],
    pub first_female: &'static [&'static str],
    pub titles_male: &'static [&'static str],
    pub titles_female: &'static [&'static str],
    pub last_names: &'static [&'static str],
    pub street_suffixes: &'static [&'static str],
    pub street_style: StreetStyle,
    pub cities: &'static [&'static str],
    pub states: &'static [&'static str],
    pub postcode: PostcodeFormat,
    pub phone: &'static [&'static str],
    pub cell: &'static [&'static str],
    pub id: IdFormat,
}

const fn surnames<L: Data>() -> &'static [&'static str] {
    L::NAME_LAST_NAME
}

const fn street_suffixes<L: Data>() -> &'static [&'static str] {
    L::ADDRESS_STREET_SUFFIX
}

const fn regions<L: Data>() -> &'static [&'static str] {
    L::ADDRESS_STATE
}

const TITLES_MALE: &[&str] = &["Mr"];
const TITLES_FEMALE: &[&str] = &["Ms", "Mrs", "Miss"];

const ENGLISH_MALE: &[&str] = &[
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Steven", "Paul", "Andrew", "Joshua",
    "Kevin", "Brian", "Ryan", "Jacob", "Gary", "Nathan", "Eric", "Oliver", "Harry", "George",
];
const ENGLISH_FEMALE: &[&str] = &[
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Nancy",
    "Lisa",
    "Betty",
    "Margaret",
    "Sandra",
    "Ashley",
    "Emily",
    "Donna",
    "Michelle",
    "Carol",
    "Amanda",
    "Melissa",
    "Deborah",
    "Stephanie",
    "Rebecca",
    "Jennie",
    "Zoë",
    "Renée",
];

static US: Profile = Profile {
    code: "US",
    country: "United States",
    first_male: ENGLISH_MALE,
    first_female: ENGLISH_FEMALE,
    titles_male: TITLES_MALE,
    titles_female: TITLES_FEMALE,
    last_names: surnames::<EN>(),
    street_suffixes: street_suffixes::<EN>(),
    street_style: StreetStyle::NameThenSuffix,
    cities: &[
        "Billings",
        "Austin",
        "Dayton",
        "Fresno",
        "Tacoma",
        "Rochester",
        "Spokane",
        "Toledo",
        "Plano",
        "Boise",
        "Savannah",
        "Eugene",
        "Provo",
        "Lansing",
        "Odessa",
        "Flint",
        "Mesa",
        "Reno",
        "Omaha",
        "Tulsa",
    ],
    states: regions::<EN>(),
    postcode: PostcodeFormat::Number {
        min: 10000,
        max: 99999,
    },
    phone: &["(%##) %##-####"],
    cell: &["(%##) %##-####"],
    id: IdFormat::Pattern {
        name: "SSN",
        pattern: "%##-##-####",
    },
};

static GB: Profile = Profile {
    code: "GB",
    country: "United Kingdom",
    first_male: ENGLISH_MALE,
    first_female: ENGLISH_FEMALE,
    titles_male: TITLES_MALE,
    titles_female: TITLES_FEMALE,
    last_names: surnames::<EN>(),
    street_suffixes: street_suffixes::<EN>(),
    street_style: StreetStyle::NameThenSuffix,
    cities: &[
        "London",
        "Manchester",
        "Birmingham",
        "Leeds",
        "Bristol",
        "Sheffield",
        "Leicester",
        "Coventry",
        "Bradford",
        "Nottingham",
        "Stoke-on-Trent",
        "Southampton",
        "Portsmouth",
        "Derby",
        "Plymouth",
        "Wolverhampton",
        "York",
        "Salford",
        "Preston",
        "Newcastle upon Tyne",
    ],
    states: &[
        "Greater London",
        "Greater Manchester",
        "West Midlands",
        "West Yorkshire",
        "Merseyside",
        "South Yorkshire",
        "Tyne and Wear",
        "Kent",
        "Essex",
        "Hampshire",
        "Lancashire",
        "Surrey",
        "Devon",
        "Norfolk",
        "Somerset",
        "Cumbria",
        "Durham",
        "Cornwall",
        "Dorset",
        "Suffolk",
    ],
    postcode: PostcodeFormat::Text(&["L# #LL", "L## #LL", "LL# #LL", "LL## #LL", "LL#L #LL"]),
    phone: &["01### ######", "0%# #### ####"],
    cell: &["07### ######"],
    id: IdFormat::Pattern {
        name: "NINO",
        pattern: "LL ## ## ## L",
    },
};

static CA: Profile = Profile {
    code: "CA",
    country: "Canada",
    first_male: ENGLISH_MALE,
    first_female: ENGLISH_FEMALE,
    titles_male: TITLES_MALE,
    titles_female: TITLES_FEMALE,
    last_names: surnames::<EN>(),
    street_suffixes: street_suffixes::<EN>(),
    street_style: StreetStyle::NameThenSuffix,
    cities: &[
        "Toronto",
        "Montréal",
        "Vancouver",
        "Calgary",
        "Edmonton",
        "Ottawa",
        "Winnipeg",
        "Québec",
        "Hamilton",
        "Kitchener",
        "Halifax",
        "Victoria",
        "Saskatoon",
        "Regina",
        "Sherbrooke",
        "Trois-Rivières",
        "St. John's",
        "Lévis",
    ],
    states: &[
        "Ontario",
        "Québec",
        "British Columbia",
        "Alberta",
        "Manitoba",
        "Saskatchewan",
        "Nova Scotia",
        "New Brunswick",
        "Newfoundland and Labrador",
        "Prince Edward Island",
        "Yukon",
        "Northwest Territories",
        "Nunavut",
    ],
    postcode: PostcodeFormat::Text(&["L#L #L#"]),
    phone: &["%##-%##-####"],
    cell: &["%##-%##-####"],
    id: IdFormat::Pattern {
        name: "SIN",
        pattern: "%########",
    },
};

static AU: Profile = Profile {
    code: "AU",
    country: "Australia",
    first_male: ENGLISH_MALE,
    first_female: ENGLISH_FEMALE,
    titles_male: TITLES_MALE,
    titles_female: TITLES_FEMALE,
    last_names: surnames::<EN>(),
    street_suffixes: street_suffixes::<EN>(),
    street_style: StreetStyle::NameThenSuffix,
    cities: &[
        "Sydney",
        "Melbourne",
        "Brisbane",
        "Perth",
        "Adelaide",
        "Gold Coast",
        "Newcastle",
        "Canberra",
        "Wollongong",
        "Hobart",
        "Geelong",
        "Townsville",
        "Cairns",
        "Darwin",
        "Toowoomba",
        "Ballarat",
        "Bendigo",
    ],
    states: &[
        "New South Wales",
        "Victoria",
        "Queensland",
        "Western Australia",
        "South Australia",
        "Tasmania",
        "Australian Capital Territory",
        "Northern Territory",
    ],
    postcode: PostcodeFormat::Number {
        min: 1000,
        max: 9999,
    },
    phone: &["0%-####-####"],
    cell: &["04##-###-###"],
    id: IdFormat::Pattern {
        name: "TFN",
        pattern: "%########",
    },
};

static FR: Profile = Profile {
    code: "FR",
    country: "France",
    first_male: &[
        "Jérôme",
        "Théo",
        "Mathéo",
        "Noé",
        "Loïc",
        "Gaëtan",
        "Benoît",
        "Clément",
        "Hugo",
        "Lucas",
        "Nathan",
        "Maxime",
        "Timothée",
        "Raphaël",
        "Anthony",
        "Rémi",
        "Valentin",
        "Léo",
        "Adrien",
        "Joël",
    ],
    first_female: &[
        "Zoë",
        "Léa",
        "Chloé",
        "Océane",
        "Maëlle",
        "Héloïse",
        "Clémence",
        "Anaïs",
        "Inès",
        "Camille",
        "Manon",
        "Juliette",
        "Élise",
        "Louise",
        "Noémie",
        "Amélie",
        "Margaux",
        "Éloïse",
        "Mélanie",
        "Célia",
    ],
    titles_male: &["Mr", "Monsieur"],
    titles_female: &["Ms", "Mrs", "Miss", "Madame", "Mademoiselle"],
    last_names: surnames::<FR_FR>(),
    street_suffixes: street_suffixes::<FR_FR>(),
    street_style: StreetStyle::SuffixThenName,
    cities: &[
        "Paris",
        "Marseille",
        "Lyon",
        "Toulouse",
        "Nice",
        "Nantes",
        "Strasbourg",
        "Montpellier",
        "Bordeaux",
        "Lille",
        "Rennes",
        "Reims",
        "Saint-Étienne",
        "Le Havre",
        "Toulon",
        "Grenoble",
        "Dijon",
        "Angers",
        "Nîmes",
        "Villeurbanne",
        "Besançon",
        "Orléans",
    ],
    states: &[
        "Île-de-France",
        "Auvergne-Rhône-Alpes",
        "Nouvelle-Aquitaine",
        "Occitanie",
        "Hauts-de-France",
        "Provence-Alpes-Côte d'Azur",
        "Grand Est",
        "Pays de la Loire",
        "Bretagne",
        "Normandie",
        "Bourgogne-Franche-Comté",
        "Centre-Val de Loire",
        "Corse",
    ],
    postcode: PostcodeFormat::Number {
        min: 10000,
        max: 95999,
    },
    phone: &["0%-##-##-##-##"],
    cell: &["06-##-##-##-##", "07-##-##-##-##"],
    id: IdFormat::Insee,
};

static DE: Profile = Profile {
    code: "DE",
    country: "Germany",
    first_male: &[
        "Jürgen",
        "Günther",
        "Jörg",
        "Björn",
        "Uwe",
        "Lukas",
        "Jonas",
        "Felix",
        "Maximilian",
        "Matthias",
        "Sönke",
        "Dieter",
        "Jan",
        "Tobias",
        "Florian",
        "Ralf",
        "Hans-Jürgen",
        "Lothar",
        "Gerd",
        "Kai",
    ],
    first_female: &[
        "Jutta", "Käthe", "Anna", "Lena", "Sophie", "Hannah", "Jördis", "Gisela", "Ursula",
        "Brigitte", "Heike", "Sabine", "Annegret", "Bärbel", "Grete", "Lea", "Mia", "Emilia",
        "Elke", "Frauke",
    ],
    titles_male: TITLES_MALE,
    titles_female: TITLES_FEMALE,
    last_names: surnames::<DE_DE>(),
    street_suffixes: street_suffixes::<DE_DE>(),
    street_style: StreetStyle::Joined,
    cities: &[
        "Berlin",
        "Hamburg",
        "München",
        "Köln",
        "Frankfurt am Main",
        "Stuttgart",
        "Düsseldorf",
        "Leipzig",
        "Dortmund",
        "Essen",
        "Bremen",
        "Dresden",
        "Hannover",
        "Nürnberg",
        "Duisburg",
        "Bochum",
        "Würzburg",
        "Göttingen",
        "Lübeck",
        "Osnabrück",
    ],
    states: regions::<DE_DE>(),
    postcode: PostcodeFormat::Number {
        min: 10000,
        max: 99999,
    },
    phone: &["0%##-#######"],
    cell: &["01%#-#######"],
    id: IdFormat::Svnr,
};

static NL: Profile = Profile {
    code: "NL",
    country: "Netherlands",
    first_male: &[
        "Daan", "Sem", "Thijs", "Bram", "Joris", "Ruud", "Sjoerd", "Pieter", "Koen", "Wouter",
        "Gijs", "Maarten", "Jeroen", "Stijn", "Teun", "Niels",
    ],
    first_female: &[
        "Sanne", "Femke", "Maaike", "Anouk", "Eline", "Lieke", "Roos", "Fleur", "Iris", "Noëlle",
        "Marieke", "Ilse", "Esmée", "Floor", "Lotte", "Tess",
    ],
    titles_male: TITLES_MALE,
    titles_female: TITLES_FEMALE,
    last_names: surnames::<NL_NL>(),
    street_suffixes: street_suffixes::<NL_NL>(),
    street_style: StreetStyle::Joined,
    cities: &[
        "Amsterdam",
        "Rotterdam",
        "Den Haag",
        "Utrecht",
        "Eindhoven",
        "Groningen",
        "Tilburg",
        "Almere",
        "Breda",
        "Nijmegen",
        "Apeldoorn",
        "Haarlem",
        "Arnhem",
        "Enschede",
        "Amersfoort",
        "Zaanstad",
        "'s-Hertogenbosch",
        "Leeuwarden",
        "Zwolle",
        "Maastricht",
    ],
    states: regions::<NL_NL>(),
    postcode: PostcodeFormat::Text(&["%### LL"]),
    phone: &["(0%#) #######"],
    cell: &["(06) ########"],
    id: IdFormat::Pattern {
        name: "BSN",
        pattern: "%########",
    },
};

static BR: Profile = Profile {
    code: "BR",
    country: "Brazil",
    first_male: &[
        "João",
        "José",
        "Antônio",
        "Sebastião",
        "Luís",
        "Otávio",
        "Cauã",
        "Vitório",
        "Caetano",
        "Raul",
        "Thiago",
        "Felipe",
        "Rafael",
        "Gabriel",
        "Matheus",
        "Leandro",
    ],
    first_female: &[
        "Luíza", "Lívia", "Mônica", "Vitória", "Sílvia", "Letícia", "Cecília", "Beatriz", "Ana",
        "Juliana", "Fernanda", "Débora", "Márcia", "Natália", "Lúcia", "Rayssa",
    ],
    titles_male: TITLES_MALE,
    titles_female: TITLES_FEMALE,
    last_names: surnames::<PT_BR>(),
    street_suffixes: street_suffixes::<PT_BR>(),
    street_style: StreetStyle::SuffixThenName,
    cities: &[
        "São Paulo",
        "Rio de Janeiro",
        "Brasília",
        "Salvador",
        "Fortaleza",
        "Belo Horizonte",
        "Manaus",
        "Curitiba",
        "Recife",
        "Goiânia",
        "Belém",
        "Porto Alegre",
        "Guarulhos",
        "Campinas",
        "São Luís",
        "Maceió",
        "Natal",
        "Teresina",
        "Florianópolis",
        "Vitória",
    ],
    states: regions::<PT_BR>(),
    postcode: PostcodeFormat::Text(&["#####-###"]),
    phone: &["(##) %###-####"],
    cell: &["(##) 9%###-####"],
    id: IdFormat::Pattern {
        name: "CPF",
        pattern: "###.###.###-##",
    },
};

static TR: Profile = Profile {
    code: "TR",
    country: "Turkey",
    first_male: &[
        "Ömer", "Çağan", "Uğur", "Şükrü", "İsmail", "Mehmet", "Mustafa", "Emre", "Burak", "Kaan",
        "Yusuf", "Hakan", "Doğan", "Selçuk", "Tolga", "Oğuz",
    ],
    first_female: &[
        "Ayşe", "Gül", "Şebnem", "Özge", "Gülşen", "Elif", "Zeynep", "Büşra", "Merve", "İrem",
        "Sıla", "Nur", "Hülya", "Çiğdem", "Ebru", "Dilara",
    ],
    titles_male: TITLES_MALE,
    titles_female: TITLES_FEMALE,
    last_names: surnames::<TR_TR>(),
    street_suffixes: street_suffixes::<TR_TR>(),
    street_style: StreetStyle::NameThenSuffix,
    cities: &[
        "İstanbul",
        "Ankara",
        "İzmir",
        "Bursa",
        "Antalya",
        "Konya",
        "Adana",
        "Şanlıurfa",
        "Gaziantep",
        "Kocaeli",
        "Mersin",
        "Diyarbakır",
        "Hatay",
        "Manisa",
        "Kayseri",
        "Samsun",
        "Balıkesir",
        "Kahramanmaraş",
        "Van",
        "Aydın",
        "Denizli",
        "Eskişehir",
        "Muğla",
        "Trabzon",
    ],
    states: regions::<TR_TR>(),
    postcode: PostcodeFormat::Number {
        min: 10000,
        max: 99999,
    },
    phone: &["(%##)-###-####"],
    cell: &["(5##)-###-####"],
    id: IdFormat::Absent,
};

static IR: Profile = Profile {
    code: "IR",
    country: "Iran",
    first_male: &[
        "محمد",
        "علی",
        "حسین",
        "امیر",
        "رضا",
        "آرمین",
        "کیان",
        "پارسا",
        "مهدی",
        "سینا",
        "نیما",
        "آرش",
        "بردیا",
        "کوروش",
        "حامد",
        "یاسین",
    ],
    first_female: &[
        "فاطمه",
        "زهرا",
        "مریم",
        "سارا",
        "نگار",
        "پرنیان",
        "ستایش",
        "هستی",
        "یاسمن",
        "نازنین",
        "آیدا",
        "رها",
        "ترانه",
        "الناز",
        "مهسا",
        "شیدا",
    ],
    titles_male: TITLES_MALE,
    titles_female: TITLES_FEMALE,
    last_names: surnames::<FA_IR>(),
    street_suffixes: street_suffixes::<FA_IR>(),
    street_style: StreetStyle::SuffixThenName,
    cities: &[
        "تهران",
        "مشهد",
        "اصفهان",
        "کرج",
        "شیراز",
        "تبریز",
        "قم",
        "اهواز",
        "کرمانشاه",
        "ارومیه",
        "رشت",
        "زاهدان",
        "همدان",
        "کرمان",
        "یزد",
        "اردبیل",
        "بندرعباس",
        "اراک",
        "قزوین",
        "ساری",
    ],
    states: regions::<FA_IR>(),
    postcode: PostcodeFormat::Number {
        min: 10000,
        max: 99999,
    },
    phone: &["0%#-########"],
    cell: &["09##-###-####"],
    id: IdFormat::Absent,
};

static NO: Profile = Profile {
    code: "NO",
    country: "Norway",
    first_male: &[
        "Øyvind", "Ørjan", "Håkon", "Bjørn", "Sindre", "Magnus", "Jørgen", "Kåre", "Eirik",
        "Sigurd", "Even", "Aksel", "Stian", "Tor", "Åsmund", "Trygve", "Ole", "Halvard",
    ],
    first_female: &[
        "Ingrid", "Kari", "Åse", "Sølvi", "Tuva", "Synnøve", "Ragnhild", "Hege", "Maren",
        "Solveig", "Sigrid", "Silje", "Marit", "Bjørg", "Tiril", "Thea", "Linnea", "Gro",
    ],
    titles_male: TITLES_MALE,
    titles_female: TITLES_FEMALE,
    last_names: &[
        "Hansen",
        "Johansen",
        "Olsen",
        "Larsen",
        "Andersen",
        "Pedersen",
        "Nilsen",
        "Kristiansen",
        "Jensen",
        "Karlsen",
        "Johnsen",
        "Pettersen",
        "Eriksen",
        "Berg",
        "Haugen",
        "Hagen",
        "Johannessen",
        "Andreassen",
        "Jacobsen",
        "Dahl",
        "Jørgensen",
        "Halvorsen",
        "Henriksen",
        "Lund",
        "Sørensen",
        "Strand",
        "Solberg",
        "Moen",
        "Bakken",
        "Kristoffersen",
        "Holm",
        "Lie",
        "Aas",
        "Rønning",
        "Næss",
        "Ødegård",
        "Sæther",
        "Øverland",
    ],
    street_suffixes: &[
        "veien", "gata", "vegen", "bakken", "stien", "svingen", "tunet",
    ],
    street_style: StreetStyle::Joined,
    cities: &[
        "Oslo",
        "Bergen",
        "Trondheim",
        "Stavanger",
        "Drammen",
        "Fredrikstad",
        "Kristiansand",
        "Sandnes",
        "Tromsø",
        "Sarpsborg",
        "Skien",
        "Ålesund",
        "Sandefjord",
        "Haugesund",
        "Tønsberg",
        "Moss",
        "Bodø",
        "Arendal",
        "Hamar",
        "Larvik",
        "Halden",
        "Lillehammer",
        "Molde",
        "Harstad",
        "Gjøvik",
    ],
    states: &[
        "Oslo",
        "Rogaland",
        "Møre og Romsdal",
        "Nordland",
        "Viken",
        "Innlandet",
        "Vestfold og Telemark",
        "Agder",
        "Vestland",
        "Trøndelag",
        "Troms og Finnmark",
    ],
    postcode: PostcodeFormat::Text(&["####"]),
    phone: &["%#######"],
    cell: &["4#######", "9#######"],
    id: IdFormat::Fodselsnummer,
};

/// A non-empty set of nationalities to draw users from, in canonical order so
/// that `nat=us,gb` and `nat=GB,US` describe the same set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatSet(Vec<Nat>);

impl NatSet {
    /// All supported nationalities: what a request without `nat` draws from.
    pub fn all() -> Self {
        NatSet(Nat::ALL.to_vec())
    }

    /// The given nationalities, deduplicated and sorted; all of them if empty.
    pub fn new(nats: impl IntoIterator<Item = Nat>) -> Self {
        let mut nats: Vec<Nat> = nats.into_iter().collect();
        if nats.is_empty() {
            return NatSet::all();
        }
        nats.sort_unstable();
        nats.dedup();
        NatSet(nats)
    }

    /// The nationalities, in canonical order; never empty.
    pub fn as_slice(&self) -> &[Nat] {
        &self.0
    }
}

impl Default for NatSet {
    fn default() -> Self {
        NatSet::all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_any_case_and_rejects_unknown_codes() {
        assert_eq!(Nat::parse("us"), Some(Nat::Us));
        assert_eq!(Nat::parse(" No "), Some(Nat::No));
        assert_eq!(Nat::parse("GB"), Some(Nat::Gb));
        assert_eq!(Nat::parse("xx"), None);
        assert_eq!(Nat::parse(""), None);
    }

    #[test]
    fn every_profile_has_the_tables_generation_draws_from() {
        for nat in Nat::ALL {
            let p = nat.profile();
            assert_eq!(p.code, nat.code());
            for (what, table) in [
                ("first_male", p.first_male),
                ("first_female", p.first_female),
                ("titles_male", p.titles_male),
                ("titles_female", p.titles_female),
                ("last_names", p.last_names),
                ("street_suffixes", p.street_suffixes),
                ("cities", p.cities),
                ("states", p.states),
                ("phone", p.phone),
                ("cell", p.cell),
            ] {
                assert!(!table.is_empty(), "{nat}: {what} is empty");
            }
        }
    }

    #[test]
    fn nat_sets_ignore_order_and_duplicates() {
        let a = NatSet::new([Nat::Us, Nat::Gb, Nat::Us]);
        let b = NatSet::new([Nat::Gb, Nat::Us]);
        assert_eq!(a, b);
        assert_eq!(a.as_slice(), &[Nat::Gb, Nat::Us]);
    }

    #[test]
    fn an_empty_nat_set_means_every_nationality() {
        assert_eq!(NatSet::new([]).as_slice(), &Nat::ALL);
    }
}
