namespace EdgeMed.TrainerHost.Training;

/// <summary>A training option the user can fix: the message says how; the CLI exits with code 2.</summary>
internal sealed class TrainingInputException(string message) : Exception(message);
