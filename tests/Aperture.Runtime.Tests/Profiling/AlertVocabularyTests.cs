using Aperture.Runtime.Alerts;

namespace Aperture.Runtime.Tests.Profiling;

public sealed class AlertVocabularyTests
{
    [Theory]
    [InlineData("gt", false, false, true)]
    [InlineData("gte", false, true, true)]
    [InlineData("lt", true, false, false)]
    [InlineData("lte", true, true, false)]
    [InlineData("eq", false, true, false)]
    public void Each_operator_holds_below_at_and_above_the_threshold_as_named(string op, bool below, bool at, bool above)
    {
        Assert.Equal(below, AlertVocabulary.Holds(op, 0.5, 0.9));
        Assert.Equal(at, AlertVocabulary.Holds(op, 0.9, 0.9));
        Assert.Equal(above, AlertVocabulary.Holds(op, 0.95, 0.9));
    }

    [Fact]
    public void Messages_read_like_the_spec()
    {
        Assert.Equal("Buffer Utilization", AlertVocabulary.DisplayName("buffer_utilization"));
        Assert.Equal(">", AlertVocabulary.Symbol("gt"));
        Assert.Equal("0.95", AlertVocabulary.Format(0.95));
        Assert.Equal("75000", AlertVocabulary.Format(75000.0));
    }
}
