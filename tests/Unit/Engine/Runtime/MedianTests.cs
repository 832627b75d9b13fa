using LlmCpu.Engine.Runtime;

namespace LlmCpu.Tests.Engine.Runtime;

public sealed class MedianTests
{
    [Fact]
    public void IsTheMiddleValueOrTheMeanOfTheMiddleTwo()
    {
        Assert.Equal(2.5, Median.Of([4, 1, 3, 2]), 12);
        Assert.Equal(3.0, Median.Of([5, 1, 3]), 12);
    }
}
