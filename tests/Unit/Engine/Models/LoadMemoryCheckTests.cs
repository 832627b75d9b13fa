using LlmCpu.Engine;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Memory;
using LlmCpu.Tests.Support;
using LlmCpu.Tests.Support.Hostile;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>A load whose weights cannot fit in the memory available is refused up front, naming what it needs and what there is.</summary>
public sealed class LoadMemoryCheckTests
{
    [Fact]
    public void ALoadThatCannotFitIsRefusedNamingTheNeedAndWhatIsAvailable()
    {
        long fileBytes = new FileInfo(Path.Combine(RepoPaths.FixtureModel, "model.safetensors")).Length;
        LoadMemoryCheck.AvailableOverride.Value = 4L << 20;
        try
        {
            var ex = Assert.Throws<ModelTooLargeException>(() => ModelLoader.Load(RepoPaths.FixtureModel));
            Assert.Equal(fileBytes, ex.NeededBytes);
            Assert.Equal(4L << 20, ex.AvailableBytes);
            Assert.Contains($"{fileBytes / 1048576.0:F0} MiB", ex.Message);
            Assert.Contains("4 MiB are available", ex.Message);
            Assert.Equal(RepoPaths.FixtureModel, ex.FilePath);

            var record = ModuleErrorMapping.ForLoad(ex, RepoPaths.FixtureModel);
            Assert.Equal("InsufficientMemory", record.FullyQualifiedErrorId);
            Assert.Equal(System.Management.Automation.ErrorCategory.ResourceUnavailable, record.CategoryInfo.Category);
            Assert.False(ModuleErrorMapping.IsDefect(ex));
        }
        finally
        {
            LoadMemoryCheck.AvailableOverride.Value = null;
        }
    }

    [Fact]
    public void AskingForInt4LowersTheNeedAndAMappedFileNeedsNone()
    {
        long fileBytes = new FileInfo(Path.Combine(RepoPaths.FixtureModel, "model.safetensors")).Length;
        LoadMemoryCheck.AvailableOverride.Value = fileBytes / 4;
        try
        {
            using (ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { Precision = ModelPrecision.Int4 })) { }
            string folder = Directory.CreateTempSubdirectory("llmcpu-mapped-").FullName;
            try
            {
                string llmc = Path.Combine(folder, "tiny.llmc");
                File.WriteAllBytes(llmc, TinyModel.LlmcFile());
                LoadMemoryCheck.AvailableOverride.Value = 0;
                using (ModelLoader.Load(llmc)) { }
                // Read into memory, the same file needs its size.
                var refused = Assert.Throws<ModelTooLargeException>(() => ModelLoader.Load(llmc, new LoadOptions { MemoryMap = false }));
                Assert.Equal(new FileInfo(llmc).Length, refused.NeededBytes);
                LoadMemoryCheck.AvailableOverride.Value = new FileInfo(llmc).Length;
                using (ModelLoader.Load(llmc, new LoadOptions { MemoryMap = false })) { }
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        finally
        {
            LoadMemoryCheck.AvailableOverride.Value = null;
        }
    }

    [Fact]
    public void TheMachinesFigureIsPositiveAndBelowItsMemory()
    {
        long available = LoadMemoryCheck.AvailableBytes();
        Assert.InRange(available, 1, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
    }
}
