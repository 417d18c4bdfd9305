using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using GruService.Api.Datasets;
using Microsoft.Extensions.DependencyInjection;

namespace GruService.Api.Tests.Datasets;

public class CsvDatasetTests : ServiceTestBase
{
    private const string Etth1 =
        "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT\n"
        + "2016-07-01 00:00:00,5.827000141143799,2.009000062942505,1.5989999771118164,0.4620000123977661,4.203000068664552,1.3400000333786009,30.5310001373291\n"
        + "2016-07-01 01:00:00,5.692999839782715,2.075999975204468,1.4919999837875366,0.4259999990463257,4.142000198364259,1.371000051498413,27.78700065612793\n"
        + "2016-07-01 02:00:00,5.1570000648498535,1.741000056266785,1.2790000438690186,0.35499998927116394,3.776999950408936,1.218000054359436,27.78700065612793\n"
        + "2016-07-01 03:00:00,5.0900001525878915,1.9420000314712524,1.2790000438690186,0.3910000026226044,3.806999921798706,1.2790000438690186,25.04400062561035\n";

    private async Task<JsonObject> UploadAsync(string csv, string? name = null)
    {
        HttpResponseMessage response = await Client.PostDatasetAsync(csv, DatasetTestExtensions.Csv, name);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        return JsonNode.Parse(body)!.AsObject();
    }

    private async Task<string> RejectedAsync(string csv) =>
        await (await Client.PostDatasetAsync(csv, DatasetTestExtensions.Csv)).AssertProblemAsync(400, "invalid_dataset");

    private IDatasetStore Store => Factory.Services.GetRequiredService<IDatasetStore>();

    [Fact]
    public async Task UploadCsv_Returns201WithRecordAndSummary_ForEtth1LikeFile()
    {
        HttpResponseMessage response = await Client.PostDatasetAsync(Etth1, DatasetTestExtensions.Csv);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        JsonObject record = await response.JsonAsync();
        string id = (string)record["id"]!;
        Assert.Matches("^[0-9a-f]{16}$", id);
        Assert.Equal($"/v1/datasets/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal($"dataset-{id[..8]}", (string?)record["name"]);
        Assert.Equal("csv", (string?)record["format"]);
        Assert.Equal("time_series", (string?)record["kind"]);
        Assert.Equal(4, (long)record["rows"]!);
        Assert.Equal(["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"], record["features"]!.AsArray().Select(f => (string)f!));
        Assert.Equal(4 * 7 * sizeof(float), (long)record["size_bytes"]!);
        Assert.Equal(Encoding.UTF8.GetByteCount(Etth1), (long)record["upload_bytes"]!);
        Assert.True(DateTimeOffset.UtcNow - DateTimeOffset.Parse((string)record["created_at"]!, CultureInfo.InvariantCulture) < TimeSpan.FromMinutes(1));

        JsonObject summary = record["summary"]!.AsObject();
        Assert.Equal("date", (string?)summary["time_column"]);
        Assert.Empty(summary["ignored_columns"]!.AsArray());
        Assert.Null(summary["label_counts"]);
        JsonObject series = Assert.Single(summary["series"]!.AsArray())!.AsObject();
        Assert.False(series.ContainsKey("name"));
        Assert.Equal(4, (long)series["length"]!);
        Assert.Equal("2016-07-01 00:00:00", (string?)series["first_time"]);
        Assert.Equal("2016-07-01 03:00:00", (string?)series["last_time"]);
    }

    [Fact]
    public async Task UploadCsv_TakesTheName_FromTheQuery()
    {
        JsonObject record = await UploadAsync(Etth1, "etth1.hourly");
        Assert.Equal("etth1.hourly", (string?)record["name"]);
    }

    [Fact]
    public async Task UploadCsv_SplitsSeriesByTheSeriesColumn_KeepingInterleavedRowsInFileOrder()
    {
        const string csv =
            "Timestamp,Series,load,temp\n"
            + "t0,north,1,10\n"
            + "t0,south,2,20\n"
            + "t1,north,3,11\n"
            + "t1,south,4,21\n"
            + "t2,north,5,12\n"
            + "t0,east,6,30\n";
        JsonObject record = await UploadAsync(csv);
        Assert.Equal(6, (long)record["rows"]!);
        Assert.Equal(["load", "temp"], record["features"]!.AsArray().Select(f => (string)f!));
        Assert.Equal("Timestamp", (string?)record["summary"]!["time_column"]);
        JsonArray series = record["summary"]!["series"]!.AsArray();
        Assert.Equal(["north", "south", "east"], series.Select(s => (string)s!["name"]!));
        Assert.Equal([3L, 2L, 1L], series.Select(s => (long)s!["length"]!));
        Assert.Equal(["t0", "t0", "t0"], series.Select(s => (string)s!["first_time"]!));
        Assert.Equal(["t2", "t1", "t0"], series.Select(s => (string)s!["last_time"]!));

        TimeSeriesData data = await Store.LoadTimeSeriesAsync((string)record["id"]!, CancellationToken.None);
        Assert.Equal([1f, 10f, 3f, 11f, 5f, 12f], data.Series[0].Values);
        Assert.Equal([2f, 20f, 4f, 21f], data.Series[1].Values);
        Assert.Equal([6f, 30f], data.Series[2].Values);
    }

    [Fact]
    public async Task UploadCsv_ReadsQuotedFields_WithCommasDoubledQuotesAndLineBreaks()
    {
        const string csv =
            "date,series,\"temp, °C\",\"note\"\n"
            + "2024-01-01,\"plant \"\"A\"\", hall 2\",\"1.5\",\"first, with comma\"\n"
            + "2024-01-02,\"plant \"\"A\"\", hall 2\",2.5,\"spans\ntwo lines\"\n"
            + "2024-01-03,\"plant \"\"A\"\", hall 2\",3.5,plain\n";
        JsonObject record = await UploadAsync(csv);
        Assert.Equal(3, (long)record["rows"]!);
        Assert.Equal(["temp, °C"], record["features"]!.AsArray().Select(f => (string)f!));
        Assert.Equal(["note"], record["summary"]!["ignored_columns"]!.AsArray().Select(c => (string)c!));
        JsonObject series = Assert.Single(record["summary"]!["series"]!.AsArray())!.AsObject();
        Assert.Equal("plant \"A\", hall 2", (string?)series["name"]);
        Assert.Equal(3, (long)series["length"]!);

        TimeSeriesData data = await Store.LoadTimeSeriesAsync((string)record["id"]!, CancellationToken.None);
        Assert.Equal([1.5f, 2.5f, 3.5f], data.Series[0].Values);
    }

    [Fact]
    public async Task UploadCsv_NamesThePhysicalLine_AfterAQuotedLineBreak()
    {
        string detail = await RejectedAsync("date,note,a\nd1,\"two\nlines\",1\nd2,x,oops\n");
        Assert.Contains("Row 2 (line 4), column 'a': 'oops' is not a number", detail);
    }

    [Fact]
    public async Task UploadCsv_AcceptsBomCrlfAndBlankTrailingLines()
    {
        byte[] body = [.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes("date,x,y\r\n2024-01-01,1,2\r\n2024-01-02,3,4\r\n\r\n")];
        HttpResponseMessage response = await Client.PostDatasetAsync(body, DatasetTestExtensions.Csv);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        JsonObject record = await response.JsonAsync();
        Assert.Equal(2, (long)record["rows"]!);
        Assert.Equal(["x", "y"], record["features"]!.AsArray().Select(f => (string)f!));
        Assert.Equal("date", (string?)record["summary"]!["time_column"]);
        Assert.Equal("2024-01-02", (string?)record["summary"]!["series"]![0]!["last_time"]);
        Assert.Equal(body.Length, (long)record["upload_bytes"]!);

        TimeSeriesData data = await Store.LoadTimeSeriesAsync((string)record["id"]!, CancellationToken.None);
        Assert.Equal([1f, 2f, 3f, 4f], data.Series[0].Values);
    }

    [Fact]
    public async Task UploadCsv_IgnoresTextColumns_AndListsThem()
    {
        JsonObject record = await UploadAsync("date,city,value,comment\n2024-01-01,Oslo,1.25,ok\n2024-01-02,Oslo,2.5,fine\n");
        Assert.Equal(["value"], record["features"]!.AsArray().Select(f => (string)f!));
        Assert.Equal(["city", "comment"], record["summary"]!["ignored_columns"]!.AsArray().Select(c => (string)c!));
        Assert.Equal("date", (string?)record["summary"]!["time_column"]);
    }

    [Fact]
    public async Task UploadCsv_UsesTheFirstTextColumnAsTimeIndex_WhenNoColumnIsNamedForIt()
    {
        JsonObject record = await UploadAsync("Month,Passengers\n1949-01,112\n1949-02,118\n1949-03,132\n");
        Assert.Equal("Month", (string?)record["summary"]!["time_column"]);
        Assert.Equal(["Passengers"], record["features"]!.AsArray().Select(f => (string)f!));
        Assert.Equal("1949-03", (string?)record["summary"]!["series"]![0]!["last_time"]);
    }

    // A site column before the timestamps, and names that need trimming or quoting, as a user's export had them.
    private const string SiteHeader = "Site,Recorded At,\"Load (kW)\", temp ,humidity%,status\n";

    [Fact]
    public async Task UploadCsv_TakesTheFirstTextColumnHoldingDatesAsTimeIndex_WhenAnotherTextColumnComesFirst()
    {
        JsonObject record = await UploadAsync(SiteHeader
            + "east,2024-01-01T00:00:00,1.5,20,40,ok\n"
            + "east,2024-01-01T01:00:00,2.5,21,41,ok\n");
        JsonObject summary = record["summary"]!.AsObject();
        Assert.Equal("Recorded At", (string?)summary["time_column"]);
        Assert.Equal(["Site", "status"], summary["ignored_columns"]!.AsArray().Select(c => (string)c!));
        Assert.Equal(["Load (kW)", "temp", "humidity%"], record["features"]!.AsArray().Select(f => (string)f!));
        Assert.Equal("2024-01-01T01:00:00", (string?)summary["series"]![0]!["last_time"]);
    }

    [Fact]
    public async Task UploadCsv_TakesTheFirstTextColumnAsTimeIndex_WhenNoTextColumnHoldsDates()
    {
        // d/m/y dates are not ISO 8601, so the rule falls back to the first text column.
        JsonObject record = await UploadAsync("Site,Day,load\neast,31/01/2024,1\neast,01/02/2024,2\n");
        Assert.Equal("Site", (string?)record["summary"]!["time_column"]);
        Assert.Equal(["Day"], record["summary"]!["ignored_columns"]!.AsArray().Select(c => (string)c!));
    }

    [Theory]
    [InlineData("east,2024-01-01T00:00:00,1,20,40,ok\nwest,2024-01-01T00:00:00,2,21,41,ok\n",
        "Row 2 (line 3), column 'Recorded At': the time index repeats: '2024-01-01T00:00:00' is also the time of row 1. Each time may appear only once.")]
    [InlineData("east,2024-01-01T00:00:00,1,20,40,ok\neast,2024-01-01T01:00:00,2,21,41,ok\nwest,2024-01-01T00:00:00,3,22,42,ok\n",
        "Row 3 (line 4), column 'Recorded At': the time index goes backwards: '2024-01-01T00:00:00' comes after '2024-01-01T01:00:00' in row 2.")]
    public async Task UploadCsv_RefusesSitesStackedInOneSeries_HintingAtTheSiteColumn_WhenTheTimestampsFollowIt(string rows, string expected)
    {
        string detail = await RejectedAsync(SiteHeader + rows);
        Assert.Contains(expected, detail);
        Assert.Contains("If the file holds several series, say which column tells them apart (the text columns 'Site', 'status' could be one): "
            + "upload with ?series=COLUMN, or name that column 'series'.", detail);
        Assert.Empty(DatasetTestExtensions.DatasetEntries(Factory.StorageRoot));
    }

    [Theory]
    [InlineData("1,2\n3,4\n5,6\n", "The header (line 1) is '1', '2': numbers, not column names, so the file seems to have no header row")]
    [InlineData("2016-07-01 00:00:00,5.8,-1e3\n2016-07-01 01:00:00,5.6,2\n",
        "The header (line 1) is '2016-07-01 00:00:00', '5.8', '-1e3': numbers and dates, not column names, so the file seems to have no header row")]
    [InlineData("\uFEFF\n 1 ,2,3,4,5,6\n1,2,3,4,5,6\n", "The header (line 2) is '1', '2', '3', '4', '5', ...: numbers, not column names")]
    public async Task UploadCsv_Returns400AndStoresNothing_WhenTheFileHasNoHeaderRow(string csv, string expected)
    {
        string detail = await RejectedAsync(csv);
        Assert.Contains(expected, detail);
        Assert.Contains("Add a first line naming the columns", detail);
        Assert.Empty(DatasetTestExtensions.DatasetEntries(Factory.StorageRoot));
    }

    [Fact]
    public async Task UploadCsv_AcceptsNumericColumnNames_WhenNotEveryNameIsANumberOrDate()
    {
        JsonObject record = await UploadAsync("date,2021,2022\n2024-01-01,2,3\n");
        Assert.Equal(["2021", "2022"], record["features"]!.AsArray().Select(f => (string)f!));
    }

    [Theory]
    [InlineData("date;load;temp\n2024-01-01;1,5;20\n", "Line 2 (row 1) has more than 1 field; the header has 1. The header is one field holding ';': fields must be separated by commas")]
    [InlineData("date;load\n2024-01-01;1\n", "No column holds numbers, so there is nothing to train on: 'date;load' is the time index.")]
    [InlineData("date\tload\n2024-01-01\t1\n", "No column holds numbers, so there is nothing to train on: 'date\tload' is the time index.")]
    public async Task UploadCsv_SaysFieldsAreSeparatedByCommas_WhenTheHeaderIsOneFieldHoldingSemicolonsOrTabs(string csv, string expected)
    {
        string detail = await RejectedAsync(csv);
        Assert.Contains(expected, detail);
        Assert.Contains("fields must be separated by commas (convert the file, e.g. with pandas: pd.read_csv(path, sep=", detail);
    }

    [Fact]
    public async Task UploadCsv_DoesNotHintAtTheSeparator_WhenTheHeaderHasSeveralFields()
    {
        string detail = await RejectedAsync("a;x,b\n1,2,3\n");
        Assert.Contains("Line 2 (row 1) has more than 2 fields; the header has 2.", detail);
        Assert.DoesNotContain("separated by commas", detail);
    }

    [Fact]
    public async Task UploadCsv_HasNoTimeIndex_WhenEveryColumnIsNumeric()
    {
        JsonObject record = await UploadAsync("a,b\n1,2\n3,4\n");
        Assert.Null(record["summary"]!["time_column"]);
        JsonObject series = record["summary"]!["series"]![0]!.AsObject();
        Assert.False(series.ContainsKey("first_time"));
        Assert.Equal(["a", "b"], record["features"]!.AsArray().Select(f => (string)f!));
    }

    [Theory]
    [InlineData("a,b\n1,2\n3\n", "Line 3 (row 2) has 1 field; the header has 2.")]
    [InlineData("a,b\n1,2\n3,4,5\n", "Line 3 (row 2) has more than 2 fields; the header has 2.")]
    [InlineData("a\n1\n3,4\n", "Line 3 (row 2) has more than 1 field; the header has 1.")]
    [InlineData("date,a\nd1,1\nd2,x\n", "Row 2 (line 3), column 'a': 'x' is not a number")]
    [InlineData("date,a,b\nd1,1,2\nd2,,3\n", "Row 2 (line 3), column 'a': the value is empty")]
    [InlineData("date,a,b\nd1,1,2\nd2,2,   \n", "Row 2 (line 3), column 'b': the value is empty")]
    [InlineData("a\n1\ninf\n", "Row 2 (line 3), column 'a': 'inf' is not a finite number")]
    [InlineData("a\n1\n-Infinity\n", "Row 2 (line 3), column 'a': '-Infinity' is not a finite number")]
    [InlineData("a,b\n1,2\n3,NaN\n", "Row 2 (line 3), column 'b': 'NaN' marks a missing value")]
    [InlineData("a,b\n1,2\n3,NA\n", "Row 2 (line 3), column 'b': 'NA' marks a missing value")]
    [InlineData("a,b\nNaN,1\n", "Column 'a' has no value in any of the 1 data rows")]
    [InlineData("a\n1\n1e39\n", "Row 2 (line 3), column 'a': '1e39' is not a finite number")]
    [InlineData("a,b\n1,\n2,null\n", "Column 'b' has no value in any of the 2 data rows")]
    [InlineData("date,name\nd1,x\n", "No column holds numbers")]
    [InlineData("date,a\n", "The CSV file has a header (line 1) but no data rows.")]
    [InlineData("date,a\r\n\r\n", "The CSV file has a header (line 1) but no data rows.")]
    [InlineData("", "The body is empty")]
    [InlineData("date,a,A\nd1,1,2\n", "names column 'A' twice (columns 2 and 3)")]
    [InlineData("date,value,date\nd1,1,d2\n", "names column 'date' twice (columns 1 and 3)")]
    [InlineData(",a\n0,1\n", "Column 1 of the header (line 1) has no name")]
    [InlineData("series,a\ns1,1\n,2\n", "Row 2 (line 3), column 'series': the series id is empty")]
    [InlineData("a,b\n1,\"2\n", "Line 2: a quoted field is not closed before the end of the file.")]
    [InlineData("a,b\n1,\"2\"x\n", "Line 2: field 2 has text after its closing quote")]
    public async Task UploadCsv_Returns400NamingTheLineRowAndColumn_ForBadData(string csv, string expected)
    {
        string detail = await RejectedAsync(csv);
        Assert.Contains(expected, detail);
        Assert.StartsWith("The dataset was rejected and nothing was stored.", detail);
    }

    [Theory]
    [InlineData("NA")]
    [InlineData("NaN")]
    [InlineData("nan")]
    [InlineData("null")]
    [InlineData("N/A")]
    [InlineData("")]
    [InlineData("  ")]
    public async Task UploadCsv_Returns400ForTheMissingValue_WhenRowOneOfANumericColumnHoldsAMissingValueMarker(string marker)
    {
        // The column is numeric (its next values are numbers), so the marker is a missing feature value, not text
        // that would make the whole column drop out of training.
        string detail = await RejectedAsync($"date,load,temp\n2024-01-01,{marker},20\n2024-01-02,1.5,21\n2024-01-03,2.5,22\n");
        Assert.Contains("Row 1 (line 2), column 'load': ", detail);
        Assert.Contains("every row needs a number in each feature column, since missing values cannot be trained on", detail);
    }

    [Fact]
    public async Task UploadCsv_TypesAColumnByItsFirstValueThatIsNotMissing_AndStoresTheRowsReadAheadUnchanged()
    {
        const string csv =
            "series,date,city,load\n"
            + "north,2024-01-01,,1\n"
            + "south,2024-01-01,NA,2\n"
            + "north,2024-01-02,Oslo,3\n"
            + "south,2024-01-02,Bergen,4\n";
        JsonObject record = await UploadAsync(csv);
        Assert.Equal(["load"], record["features"]!.AsArray().Select(f => (string)f!));
        Assert.Equal(["city"], record["summary"]!["ignored_columns"]!.AsArray().Select(c => (string)c!));
        Assert.Equal(4, (long)record["rows"]!);

        TimeSeriesData data = await Store.LoadTimeSeriesAsync((string)record["id"]!, CancellationToken.None);
        Assert.Equal(["north", "south"], data.Series.Select(s => s.Name));
        Assert.Equal([1f, 3f], data.Series[0].Values);
        Assert.Equal([2f, 4f], data.Series[1].Values);
    }

    [Fact]
    public async Task UploadCsv_TakesTheFirstTextColumnAsTimeIndex_WhenItsFirstValueIsMissing()
    {
        JsonObject record = await UploadAsync("Month,Passengers\n,112\n1949-02,118\n");
        Assert.Equal("Month", (string?)record["summary"]!["time_column"]);
        Assert.Equal(["Passengers"], record["features"]!.AsArray().Select(f => (string)f!));
    }

    [Fact]
    public async Task UploadCsv_Returns400_ForAColumnWithOnlyMissingValuesInTheRowsReadAhead()
    {
        var csv = new StringBuilder("a,b\n");
        for (int row = 0; row < CsvTimeSeriesParser.TypingRows + 50; row++) csv.Append(row).Append(row < CsvTimeSeriesParser.TypingRows + 10 ? ",NA\n" : ",1\n");
        string detail = await RejectedAsync(csv.ToString());
        Assert.Contains($"Column 'b' has no value in the first {CsvTimeSeriesParser.TypingRows} data rows, only missing-value markers", detail);
    }

    [Theory]
    [InlineData("date,x\n2024-01-01 00:00,1\n2024-01-01 02:00,2\n2024-01-01 01:00,3\n",
        "Row 3 (line 4), column 'date': the time index goes backwards: '2024-01-01 01:00' comes after '2024-01-01 02:00' in row 2.")]
    [InlineData("date,x\n2024-01-01T00:00:00Z,1\n2024-01-01T00:00:00Z,2\n",
        "Row 2 (line 3), column 'date': the time index repeats: '2024-01-01T00:00:00Z' is also the time of row 1.")]
    [InlineData("timestamp,x\n2024-01-01T01:00:00.5+01:00,1\n2024-01-01T00:00:00.5Z,2\n",
        "Row 2 (line 3), column 'timestamp': the time index repeats: '2024-01-01T00:00:00.5Z' is also the time of row 1.")]
    [InlineData("date,x\n2024-01-02,1\n2024-01-01,2\n",
        "Row 2 (line 3), column 'date': the time index goes backwards: '2024-01-01' comes after '2024-01-02' in row 1.")]
    [InlineData("Month,Passengers\n1949-02,112\n1949-03,118\n1949-01,132\n",
        "Row 3 (line 4), column 'Month': the time index goes backwards: '1949-01' comes after '1949-03' in row 2.")]
    [InlineData("time,x\n0,1\n1.5,2\n1.5,3\n", "Row 3 (line 4), column 'time': the time index repeats: '1.5' is also the time of row 2.")]
    [InlineData("time,x\n10,1\n9,2\n", "Row 2 (line 3), column 'time': the time index goes backwards: '9' comes after '10' in row 1.")]
    [InlineData("series,date,x\nA,2024-01-02,1\nB,2024-01-01,2\nA,2024-01-01,3\n",
        "Row 3 (line 4), column 'date': the time index goes backwards in series 'A': '2024-01-01' comes after '2024-01-02' in row 1.")]
    [InlineData("date,x\n2024-01-01,1\n01/02/2024,2\n",
        "Row 2 (line 3), column 'date': '01/02/2024' is not an ISO 8601 date or time, as the time index is in row 1 ('2024-01-01')")]
    [InlineData("date,x\n2024-01-01 00:00,1\n,2\n", "Row 2 (line 3), column 'date': the time value is empty")]
    public async Task UploadCsv_Returns400NamingTheRowsAndValues_WhenTheTimeIndexIsOutOfOrderOrRepeats(string csv, string expected)
    {
        string detail = await RejectedAsync(csv);
        Assert.Contains(expected, detail);
    }

    [Fact]
    public async Task UploadCsv_StoresNothing_WhenTheTimeIndexGoesBackwardsAfterManyRows()
    {
        // Values are already being written when the bad row comes.
        string csv = StorageFaults.StorageFaultApiTests.SineCsv(5000) + "2024-01-01T03:00:00,0.5\n";
        string detail = await RejectedAsync(csv);
        Assert.Contains("Row 5001 (line 5002), column 'time': the time index goes backwards: '2024-01-01T03:00:00' comes after", detail);
        Assert.Empty(DatasetTestExtensions.DatasetEntries(Factory.StorageRoot));
    }

    [Theory]
    [InlineData("date,hour,load\n2011-01-01,0,16\n2011-01-01,1,40\n2011-01-02,0,17\n")] // the hour in a column of its own: dates repeat
    [InlineData("series,date,load\nnorth,2024-01-01 00:00,1\nsouth,2024-01-01 00:00,2\nnorth,2024-01-01 01:00,3\n")] // each series in order
    [InlineData("date,load\n31/01/2024,1\n01/02/2024,2\n15/01/2024,3\n")] // not ISO 8601: which is the day cannot be told, so the order is not checked
    [InlineData("time,load\n00:00,1\n12:00,2\n00:00,3\n")] // times of day without a date
    [InlineData("date,load\n2024-01-01T00:00:00+02:00,1\n2023-12-31T23:00:00Z,2\n")] // 22:00 UTC, then 23:00 UTC
    public async Task UploadCsv_AcceptsATimeIndex_ThatDoesNotGoBackwardsOrCannotBeOrdered(string csv)
    {
        await UploadAsync(csv);
    }

    [Fact]
    public async Task UploadCsv_AcceptsTheBundledEtth1File()
    {
        string csv = await File.ReadAllTextAsync(Path.Combine(BundledModelsTests.RepositoryRoot(), "models", "data", "ETTh1.csv"));
        JsonObject record = await UploadAsync(csv);
        Assert.Equal(17420, (long)record["rows"]!);
        Assert.Equal("2018-06-26 19:00:00", (string?)record["summary"]!["series"]![0]!["last_time"]);
    }

    [Fact]
    public async Task UploadCsv_ListsEveryColumnsRole_WhenNoneIsNumeric()
    {
        string detail = await RejectedAsync("series,date,city\ns1,d1,Oslo\n");
        Assert.Contains("'series' is the series id", detail);
        Assert.Contains("'date' is the time index", detail);
        Assert.Contains("'city' is text ('Oslo' in row 1)", detail);
    }

    [Fact]
    public async Task LoadTimeSeries_GivesBackExactlyTheUploadedNumbers()
    {
        var random = new Random(7);
        var rows = new List<(string Series, float[] Values)>();
        var csv = new StringBuilder("series,time,f0,f1,f2\n");
        for (int i = 0; i < 300; i++)
        {
            string series = $"s{random.Next(4)}";
            float[] values = [(float)(random.NextDouble() * 2e6 - 1e6), (float)random.NextDouble() * 1e-20f, -i];
            rows.Add((series, values));
            csv.Append(CultureInfo.InvariantCulture, $"{series},{i},{string.Join(',', values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}\n");
        }
        JsonObject record = await UploadAsync(csv.ToString());

        TimeSeriesData data = await Store.LoadTimeSeriesAsync((string)record["id"]!, CancellationToken.None);
        Assert.Equal(["f0", "f1", "f2"], data.Features);
        string[] order = [.. rows.Select(r => r.Series).Distinct()];
        Assert.Equal(order, data.Series.Select(s => s.Name));
        foreach (TimeSeries series in data.Series)
        {
            float[] expected = [.. rows.Where(r => r.Series == series.Name).SelectMany(r => r.Values)];
            Assert.Equal(expected.Length / 3, series.Length);
            Assert.Equal(expected, series.Values);
        }
    }

    [Fact]
    public async Task LoadTimeSeries_GivesOneUnnamedSeries_WithoutASeriesColumn()
    {
        JsonObject record = await UploadAsync(Etth1);
        TimeSeriesData data = await Store.LoadTimeSeriesAsync((string)record["id"]!, CancellationToken.None);
        TimeSeries series = Assert.Single(data.Series);
        Assert.Null(series.Name);
        Assert.Equal(4, series.Length);
        Assert.Equal(5.827000141143799f, series.Values[0]);
        Assert.Equal(25.04400062561035f, series.Values[^1]);
    }

    [Fact]
    public async Task LoadSequences_Throws_ForATimeSeriesDataset()
    {
        JsonObject record = await UploadAsync(Etth1);
        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.LoadSequencesAsync((string)record["id"]!, CancellationToken.None));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => Store.LoadTimeSeriesAsync("0123456789abcdef", CancellationToken.None));
    }

    // Two sites stacked one after the other, each with its own hours: without naming 'site' the times go back at row 4.
    private const string TwoSites =
        "date,site,load\n"
        + "2024-01-01T00:00:00,a,1.5\n2024-01-01T01:00:00,a,2.5\n2024-01-01T02:00:00,a,3.5\n"
        + "2024-01-01T00:00:00,b,4.5\n2024-01-01T01:00:00,b,5.5\n";

    [Fact]
    public async Task UploadCsv_ReadsTheSeriesIdFromTheColumnTheQueryNames()
    {
        HttpResponseMessage response = await Client.PostDatasetWithQueryAsync(TwoSites, DatasetTestExtensions.Csv, "series=SITE");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        JsonObject record = await response.JsonAsync();
        JsonObject summary = record["summary"]!.AsObject();
        Assert.Equal("site", (string?)summary["series_column"]);
        Assert.Equal("date", (string?)summary["time_column"]);
        Assert.Empty(summary["ignored_columns"]!.AsArray());
        Assert.Equal(["a", "b"], summary["series"]!.AsArray().Select(s => (string)s!["name"]!));

        TimeSeriesData data = await Store.LoadTimeSeriesAsync((string)record["id"]!, CancellationToken.None);
        Assert.Equal([[1.5f, 2.5f, 3.5f], [4.5f, 5.5f]], data.Series.Select(s => s.Values.ToArray()));
    }

    [Fact]
    public async Task UploadCsv_HintsAtNamingTheSeriesColumn_WhenStackedSeriesGoBackInTime()
    {
        string detail = await RejectedAsync(TwoSites);
        Assert.Contains("Row 4 (line 5), column 'date': the time index goes backwards", detail);
        Assert.Contains("(the text column 'site' could be one): upload with ?series=COLUMN, or name that column 'series'.", detail);
    }

    [Fact]
    public async Task UploadCsv_ReadsTheTimeIndexFromTheColumnTheQueryNames()
    {
        // Without ?time=, 'created', the first text column holding dates, would be the time index and 'recorded' ignored.
        const string csv = "created,recorded,load\n2023-05-01,2024-01-01,1\n2023-05-02,2024-01-02,2\n";
        HttpResponseMessage response = await Client.PostDatasetWithQueryAsync(csv, DatasetTestExtensions.Csv, "time=recorded");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        JsonObject summary = (await response.JsonAsync())["summary"]!.AsObject();
        Assert.Equal("recorded", (string?)summary["time_column"]);
        Assert.Equal(["created"], summary["ignored_columns"]!.AsArray().Select(c => (string)c!));
        Assert.Equal("2024-01-02", (string?)summary["series"]![0]!["last_time"]);

        // And its order is checked like that of a column named for it.
        string detail = await (await Client.PostDatasetWithQueryAsync("created,recorded,load\n2023-05-01,2024-01-02,1\n2023-05-02,2024-01-01,2\n", DatasetTestExtensions.Csv, "time=recorded"))
            .AssertProblemAsync(400, "invalid_dataset");
        Assert.Contains("column 'recorded': the time index goes backwards", detail);
    }

    [Theory]
    [InlineData("series=site", "series=site names no column of the header (line 1); its columns are 'date', 'load'.")]
    [InlineData("time=when", "time=when names no column of the header (line 1); its columns are 'date', 'load'.")]
    [InlineData("series=date&time=date", "Column 'date' cannot be both the series id and the time index")]
    public async Task UploadCsv_Answers400AndStoresNothing_WhenTheQueryNamesAColumnThatCannotTakeTheRole(string query, string expected)
    {
        string detail = await (await Client.PostDatasetWithQueryAsync("date,load\n2024-01-01,1\n", DatasetTestExtensions.Csv, query)).AssertProblemAsync(400, "invalid_dataset");
        Assert.Contains(expected, detail);
        Assert.Empty(DatasetTestExtensions.DatasetEntries(Factory.StorageRoot));
    }

    [Theory]
    [InlineData(DatasetTestExtensions.Ndjson, "series=site", "series names a column of a CSV time series; an NDJSON dataset")]
    [InlineData(DatasetTestExtensions.Ndjson, "time=t", "time names a column of a CSV time series")]
    [InlineData(DatasetTestExtensions.Csv, "series=", "series is empty")]
    [InlineData(DatasetTestExtensions.Csv, "time=%20", "time is empty")]
    public async Task UploadDataset_Answers400InvalidColumnRole_WhenTheRoleCannotApply(string contentType, string query, string expected)
    {
        string body = contentType == DatasetTestExtensions.Csv ? "date,load\n2024-01-01,1\n" : "{\"sequence\": [1, 2], \"label\": \"a\"}\n";
        string detail = await (await Client.PostDatasetWithQueryAsync(body, contentType, query)).AssertProblemAsync(400, "invalid_column_role");
        Assert.Contains(expected, detail);
    }
}
