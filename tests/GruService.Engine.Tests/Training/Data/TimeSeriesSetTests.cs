using GruService.Engine.Training.Data;

namespace GruService.Engine.Tests.Training.Data;

public class TimeSeriesSetTests
{
    [Fact]
    public void Shapes_AreReadFromTheRowMajorArrays()
    {
        float[] first = [1, 2, 3, 4, 5, 6];
        var set = new TimeSeriesSet(["a", "b"], [first, [7, 8]], ["north", "south"]);
        Assert.Equal(2, set.SeriesCount);
        Assert.Equal(3, set.RowCount(0));
        Assert.Equal(1, set.RowCount(1));
        Assert.Equal(4, set.TotalRows);
        Assert.Equal(1, set.ColumnIndex("b"));
        Assert.Equal(["north", "south"], set.SeriesIds!);
        Assert.True(set.Rows(0) == first.AsSpan(), "the series is not copied");
    }

    [Fact]
    public void SeriesIds_AreOptional()
    {
        Assert.Null(new TimeSeriesSet(["a"], [[1f]]).SeriesIds);
    }

    [Fact]
    public void NonFiniteValue_IsRefused_WithItsPlace()
    {
        var error = Assert.Throws<ArgumentException>(() => new TimeSeriesSet(["a", "b"], [[1, 2, 3, float.NaN]], ["x"]));
        Assert.Contains("'x' row 1 column 'b' is NaN", error.Message);
        Assert.Throws<ArgumentException>(() => new TimeSeriesSet(["a"], [[float.PositiveInfinity]]));
    }

    [Fact]
    public void BadShapesAndNames_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => new TimeSeriesSet(["a", "b"], [[1, 2, 3]]));
        Assert.Throws<ArgumentException>(() => new TimeSeriesSet(["a"], [[]]));
        Assert.Throws<ArgumentException>(() => new TimeSeriesSet(["a", "a"], [[1, 2]]));
        Assert.Throws<ArgumentException>(() => new TimeSeriesSet([], [[1f]]));
        Assert.Throws<ArgumentException>(() => new TimeSeriesSet(["a"], []));
        Assert.Throws<ArgumentException>(() => new TimeSeriesSet(["a"], [[1f], [2f]], ["s", "s"]));
        Assert.Throws<ArgumentException>(() => new TimeSeriesSet(["a"], [[1f], [2f]], ["s"]));
    }

    [Fact]
    public void UnknownColumn_IsRefused_NamingTheKnownOnes()
    {
        var set = new TimeSeriesSet(["HUFL", "OT"], [[1, 2]]);
        var error = Assert.Throws<ArgumentException>(() => set.ColumnIndex("ot"));
        Assert.Contains("'HUFL', 'OT'", error.Message);
    }
}
