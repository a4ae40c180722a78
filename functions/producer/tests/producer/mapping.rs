//! Flattening randomuser.me responses (fixtures in the API's 1.4 shape) into records.

use crate::common::fixture;
use producer::mapping::to_record;

#[test]
fn users_of_every_nationality_flatten_into_records() {
    // given a page with US, GB, NO, FR, DE and BR users
    let page = fixture("randomuser-mixed-nat.json");
    let users = page["results"].as_array().unwrap();

    // when
    let records: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| to_record(i, u).unwrap())
        .collect();

    // then
    let us = &records[0];
    assert_eq!(
        (us.first_name.as_ref(), us.last_name.as_ref()),
        ("Jennie", "Nichols")
    );
    assert_eq!(us.gender, "female");
    assert_eq!(
        us.address,
        "8929 Valwood Pkwy, Billings, Michigan, United States"
    );
    assert_eq!(us.post_code, "63104", "a numeric postcode becomes text");
    assert_eq!(us.email, "jennie.nichols@example.com");
    assert_eq!(us.username, "yellowpeacock117");
    assert_eq!(us.dob.to_rfc3339(), "1992-03-08T15:13:16.688+00:00");
    assert_eq!(
        us.registered_date.to_rfc3339(),
        "2007-07-09T05:51:59.390+00:00"
    );
    assert_eq!(us.phone, "(272) 790-0888");
    assert_eq!(
        us.picture,
        "https://randomuser.me/api/portraits/med/women/75.jpg"
    );
    assert_eq!(us.id.get_version_num(), 4);

    assert_eq!(records[1].post_code, "JV1 2UE", "a text postcode is kept");
    assert_eq!(records[2].post_code, "0567", "a leading zero survives");
    assert_eq!(
        (
            records[2].first_name.as_ref(),
            records[2].last_name.as_ref()
        ),
        ("Zoë", "Løvås")
    );
    assert_eq!(records[2].address, "4821 Kirkeveien, Oslo, Østfold, Norway");
    assert_eq!(records[3].first_name, "Jérôme");
    assert_eq!(
        records[4].address, "84a Schulstraße, Würzburg, Bayern, Germany",
        "a text street number is kept"
    );
    assert_eq!(records[5].last_name, "Araújo");
}

#[test]
fn every_record_gets_its_own_new_id() {
    let page = fixture("randomuser-mixed-nat.json");
    let user = &page["results"][0];
    let (a, b) = (to_record(0, user).unwrap(), to_record(0, user).unwrap());
    assert_ne!(a.id, b.id);
    assert_eq!(a.first_name, b.first_name);
}

#[test]
fn a_user_missing_a_field_or_with_a_bad_date_is_reported_with_the_reason() {
    // given a page whose second user has no login and whose third has a malformed birth date
    let page = fixture("randomuser-malformed-user.json");
    let users = page["results"].as_array().unwrap();

    // when
    let outcomes: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| to_record(i, u))
        .collect();

    // then
    assert!(outcomes[0].is_ok());
    let missing = outcomes[1].as_ref().unwrap_err();
    assert_eq!(missing.index, 1);
    assert!(
        missing.reason.contains("missing field `login`"),
        "{}",
        missing.reason
    );
    let bad_date = outcomes[2].as_ref().unwrap_err();
    assert!(
        bad_date
            .reason
            .contains("input contains invalid characters"),
        "{}",
        bad_date.reason
    );
}
