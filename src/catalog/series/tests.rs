use super::*;

fn curves(csv: &str) -> Option<Curves> {
    Curves::parse("x.csv", csv.as_bytes())
}

#[test]
fn an_equity_curve_over_dates_is_a_series_and_comes_first() {
    let csv = "date,drawdown,equity,note\n\
               2025-01-01,0,100,a\n2025-01-02,-1,99,b\n2025-01-03,0,103.5,c\n";
    let s = from_csv("curve.csv", csv.as_bytes(), 40);
    let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["equity", "drawdown"]);
    let e = &s[0];
    assert_eq!((e.first, e.last, e.min, e.max), (100.0, 103.5, 99.0, 103.5));
    assert_eq!(e.points, [100.0, 99.0, 103.5]);
    assert_eq!(e.index, "date");
}

#[test]
fn a_time_column_is_sorted_on_and_text_columns_are_no_series() {
    let c = curves(
        "timestamp,equity,side\n2025-11-03T16:30:00Z,10011.5,buy\n2025-11-03T15:30:00Z,9994,sell\n",
    )
    .unwrap();
    assert_eq!(c.x_kind, XKind::Time);
    assert_eq!(c.x, [1762183800.0, 1762187400.0]);
    assert_eq!(c.columns.len(), 1);
    assert_eq!(c.columns[0].name, "equity");
    assert_eq!(c.columns[0].values, [Some(9994.0), Some(10011.5)]);
}

#[test]
fn an_index_column_or_epoch_numbers_make_curves() {
    let c = curves("step,loss\n1,0.9\n2,0.5\n3,0.4").unwrap();
    assert_eq!(c.x_kind, XKind::Index);
    let c = curves("ts,v\n1762183800000,1\n1762183860000,2").unwrap();
    assert_eq!((c.x_kind, c.x[0]), (XKind::Time, 1762183800.0));
    let c = curves("symbol,when,v\na,2025-01-02 10:00,1\nb,2025-01-01 10:00,2").unwrap();
    assert_eq!(
        (c.x_name.as_str(), c.columns[0].values[0]),
        ("when", Some(2.0))
    );
}

#[test]
fn gaps_nan_and_infinities_are_left_out() {
    let s = from_csv("x.csv", b"i,v\n0,1\n1,\n2,NaN\n3,inf\n4,3\n", 10);
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].count, s[0].gaps), (2, 3));
    assert_eq!(s[0].points, [1.0, 3.0]);
}

#[test]
fn no_series_without_a_time_or_index_column() {
    for csv in [
        "name,v\nx,1\ny,2\n",
        "i,v\n2,1\n1,2\n",
        "i,v\n0,1\n",
        "i,v\n0,a\n1,b\n",
        "step,name\n1,a\n2,b\n",
        "plain text, not a table\nsecond line\n",
    ] {
        assert!(from_csv("x.csv", csv.as_bytes(), 10).is_empty(), "{csv}");
        assert!(curves(csv).is_none(), "{csv}");
    }
    assert!(from_csv("x.txt", b"i,v\n0,1\n1,2\n", 10).is_empty());
}

#[test]
fn downsampling_keeps_each_buckets_extremes() {
    let n = 100_000;
    let mut y: Vec<Option<f64>> = (0..n).map(|i| Some((i % 100) as f64)).collect();
    y[54_321] = Some(-500.0);
    y[77_777] = Some(900.0);
    let c = Curves {
        x_name: "i".into(),
        x_kind: XKind::Index,
        x: (0..n).map(|i| i as f64).collect(),
        columns: vec![Column {
            name: "v".into(),
            values: y,
        }],
        points: n,
    };
    let d = c.downsample(2000);
    assert!(d.x.len() <= 2001, "{}", d.x.len());
    let values: Vec<f64> = d.columns[0].values.iter().flatten().copied().collect();
    assert!(values.contains(&-500.0) && values.contains(&900.0));
    assert_eq!((d.x[0], *d.x.last().unwrap()), (0.0, (n - 1) as f64));
    assert_eq!(d.points, n);
    assert_eq!(c.downsample(n), c);
}

#[test]
fn a_sparkline_keeps_its_spike_within_its_width() {
    let mut csv = String::from("i,v\n");
    for i in 0..1000 {
        let v = if i == 617 { 50.0 } else { 1.0 };
        csv.push_str(&format!("{i},{v}\n"));
    }
    let s = &from_csv("x.csv", csv.as_bytes(), 40)[0];
    assert!(s.points.len() <= 40, "{}", s.points.len());
    assert!(s.points.contains(&50.0));
    assert_eq!((s.count, s.max), (1000, 50.0));
}
